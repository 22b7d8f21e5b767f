// A gRPC server on loopback with the control plane's TLS: client certificates optional and not
// verified by the TLS layer (bootstrap callers have none), as on port 15012.
import {
  experimental,
  Server,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { MutableCertificateProvider } from '../../ca/tls-provider.ts';
import type { PemPair } from './pki.ts';

export async function startTlsGrpcServer(
  service: { definition: ServiceDefinition; implementation: UntypedServiceImplementation },
  rootsPem: string,
  serving: PemPair,
): Promise<{ server: Server; address: string }> {
  const server = new Server();
  server.addService(service.definition, service.implementation);
  const provider = new MutableCertificateProvider();
  provider.setCa(rootsPem);
  provider.setIdentity(serving.certPem, serving.keyPem);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      experimental.createCertificateProviderServerCredentials(provider, provider, false),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}
