// Writes, for each .proto file given, the schema that proto/wire.ts encodes and decodes with:
// <out>/schema/<name>.ts. Run by proto/generate.sh (npx tsx proto/generate-schema.ts <out>
// <file.proto>...), which adds the header, the .ts import extensions and formats; protobufjs parses here, at build time
// only. A field type that proto/wire.ts does not support stops the generation.
import { writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import protobuf from 'protobufjs';
import type { FieldSchema, MethodSchema, ProtoSchema, ScalarType } from './wire.ts';

// The function proto-loader names a client's lowerCamelCase method aliases with.
const camelCase = createRequire(import.meta.url)('lodash.camelcase') as (name: string) => string;

const SCALARS: readonly string[] = [
  'string',
  'bytes',
  'bool',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'double',
] satisfies ScalarType[];

function fullName(reflection: protobuf.ReflectionObject): string {
  return reflection.fullName.replace(/^\./, '');
}

function scalar(type: string, where: string): ScalarType {
  if (!SCALARS.includes(type)) throw new Error(`${where}: type ${type} is not supported by proto/wire.ts`);
  return type as ScalarType;
}

function fieldSchema(field: protobuf.Field, message: string): FieldSchema {
  const where = `${message}.${field.name}`;
  if (field.options?.proto3_optional) throw new Error(`${where}: proto3 optional is not supported`);
  const resolved = field.resolvedType;
  const base = {
    id: field.id,
    name: field.name,
    ...(field.repeated && !field.map && { repeated: true as const }),
    ...(field.partOf && { oneof: field.partOf.name }),
  };
  if (field instanceof protobuf.MapField) {
    if (resolved) throw new Error(`${where}: maps of messages or enums are not supported`);
    return {
      ...base,
      type: 'message',
      map: { key: scalar(field.keyType, where), value: scalar(field.type, where) },
    };
  }
  if (resolved instanceof protobuf.Enum) return { ...base, type: 'enum', ref: fullName(resolved) };
  if (resolved instanceof protobuf.Type) return { ...base, type: 'message', ref: fullName(resolved) };
  const type = scalar(field.type, where);
  if (field.repeated && !['string', 'bytes'].includes(type))
    throw new Error(`${where}: repeated ${type} (packed) is not supported`);
  return { ...base, type };
}

function schemaOf(root: protobuf.Root): ProtoSchema {
  const messages: Record<string, FieldSchema[]> = {};
  const enums: Record<string, Record<string, number>> = {};
  const services: Record<string, Record<string, MethodSchema>> = {};
  const visit = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Type) {
        const name = fullName(nested);
        messages[name] = [...nested.fieldsArray]
          .sort((a, b) => a.id - b.id)
          .map((field) => fieldSchema(field, name));
      } else if (nested instanceof protobuf.Enum) enums[fullName(nested)] = { ...nested.values };
      else if (nested instanceof protobuf.Service) {
        services[fullName(nested)] = Object.fromEntries(
          nested.methodsArray.map((method) => [
            method.name,
            {
              originalName: camelCase(method.name),
              request: fullName(method.resolvedRequestType!),
              response: fullName(method.resolvedResponseType!),
              requestStream: Boolean(method.requestStream),
              responseStream: Boolean(method.responseStream),
            },
          ]),
        );
      }
      if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  return { messages, enums, services };
}

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) throw new Error('usage: generate-schema.ts <out dir> <file.proto>...');
mkdirSync(join(out, 'schema'), { recursive: true });
for (const file of files) {
  const root = protobuf.loadSync(file);
  root.resolveAll();
  const name = basename(file, '.proto');
  writeFileSync(
    join(out, 'schema', `${name}.ts`),
    [
      `// From proto/${name}.proto, for proto/wire.ts.`,
      `import type { ProtoSchema } from '../../wire';`,
      '',
      `export const schema: ProtoSchema = ${JSON.stringify(schemaOf(root))};`,
      '',
    ].join('\n'),
  );
}
