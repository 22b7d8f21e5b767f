import { schema } from './generated/schema/ca.ts';
import { grpcService } from './service.ts';
import type { ProtoGrpcType } from './generated/ca.ts';

export type {
  CertificateServiceClient,
  CertificateServiceHandlers,
} from './generated/lanyard/ca/v1/CertificateService.ts';
export type { TrustBundle__Output as TrustBundleMessage } from './generated/lanyard/ca/v1/TrustBundle.ts';

type Package = ProtoGrpcType['lanyard']['ca']['v1'];
let service: Package['CertificateService'] | undefined;

/** CertificateService's client constructor, with its service definition as `.service` (made once). */
export function loadCaProto(): Pick<Package, 'CertificateService'> {
  // The generated ProtoGrpcType describes this constructor; its definition lacks only the
  // message descriptors (requestType, responseType) that nothing here reads.
  service ??= grpcService(
    schema,
    'lanyard.ca.v1.CertificateService',
  ) as unknown as Package['CertificateService'];
  return { CertificateService: service };
}
