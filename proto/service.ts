// gRPC service definitions and client constructors from a generated schema (proto/wire.ts), in
// the shape that proto-loader's loadPackageDefinition gives, without parsing .proto files.
import { makeClientConstructor, type MethodDefinition } from '@grpc/grpc-js';
import { SchemaCodecs, type ProtoSchema } from './wire.ts';

/**
 * The client constructor of `service` (its full name), with the service definition that servers
 * register as its `service` property. The definition carries no message descriptors
 * (`requestType`, `responseType`): grpc-js needs only the serializers.
 */
export function grpcService(schema: ProtoSchema, service: string): ReturnType<typeof makeClientConstructor> {
  const methods = schema.services[service];
  if (!methods) throw new TypeError(`unknown service ${service}`);
  const codecs = new SchemaCodecs(schema);
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(methods)) {
    const request = codecs.codec(method.request);
    const response = codecs.codec(method.response);
    definition[name] = {
      path: `/${service}/${name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: request.encode,
      requestDeserialize: request.decode,
      responseSerialize: response.encode,
      responseDeserialize: response.decode,
      originalName: method.originalName,
    };
  }
  return makeClientConstructor(definition, service.slice(service.lastIndexOf('.') + 1));
}
