import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from './generated/ca.ts';

export type {
  CertificateServiceClient,
  CertificateServiceHandlers,
} from './generated/lanyard/ca/v1/CertificateService.ts';
export type { TrustBundle__Output as TrustBundleMessage } from './generated/lanyard/ca/v1/TrustBundle.ts';

/** Options shared with proto/generate.sh, so that the generated types match what is loaded. */
const LOADER_OPTIONS = { keepCase: false, longs: Number, defaults: true, arrays: true } as const;

/** The lanyard.ca.v1 package: CertificateService's client constructor and service definition. */
export function loadCaProto(): ProtoGrpcType['lanyard']['ca']['v1'] {
  const definition = loadSync(fileURLToPath(new URL('./ca.proto', import.meta.url)), LOADER_OPTIONS);
  return (loadPackageDefinition(definition) as unknown as ProtoGrpcType).lanyard.ca.v1;
}
