// proto/wire.ts against protobufjs through @grpc/proto-loader with the options that the repository
// used before (and proto/generate.sh still uses for the types): the same bytes for the same
// objects, the same objects from the same bytes, for every message of every .proto file.
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { schema as blocks } from './generated/schema/blocks.ts';
import { schema as ca } from './generated/schema/ca.ts';
import { schema as events } from './generated/schema/events.ts';
import { schema as policy } from './generated/schema/policy.ts';
import { loadBlocksProto } from './load-blocks.ts';
import { loadEventsProto } from './load-events.ts';
import { loadPolicyProto } from './load-policy.ts';
import { loadCaProto } from './load.ts';
import { SchemaCodecs, type FieldSchema, type ProtoSchema, type ScalarType } from './wire.ts';

const SCHEMAS = { ca, policy, events, blocks } as const;

interface Reference {
  readonly serialize: (value: object) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

/** A proto-loader message definition's name (its descriptor types do not resolve here). */
const typeName = (definition: unknown) => (definition as { type: { name: string } }).type.name;

function reference(file: string): PackageDefinition {
  return loadSync(fileURLToPath(new URL(`./${file}.proto`, import.meta.url)), {
    keepCase: false,
    longs: Number,
    defaults: true,
    arrays: true,
  });
}

/** protobufjs's serializers for each message, taken from the methods that carry it. */
function referenceCodecs(definition: PackageDefinition): Map<string, Reference> {
  const codecs = new Map<string, Reference>();
  for (const entry of Object.values(definition)) {
    if (!('format' in entry)) {
      for (const method of Object.values(entry)) {
        codecs.set(typeName(method.requestType), {
          serialize: method.requestSerialize,
          deserialize: method.requestDeserialize,
        });
        codecs.set(typeName(method.responseType), {
          serialize: method.responseSerialize,
          deserialize: method.responseDeserialize,
        });
      }
    }
  }
  return codecs;
}

const scalarArbitrary: Record<ScalarType, fc.Arbitrary<unknown>> = {
  // Short and long, ASCII and not (lone surrogates too), around the one-byte length limit, and
  // one long enough that the message holding it needs a three-byte length.
  string: fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ minLength: 120, maxLength: 140 }),
    fc.constant('x'.repeat(16_400)),
    fc.constant(''),
  ),
  bytes: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  bool: fc.boolean(),
  int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  uint32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  // Numbers that both sides carry exactly; past 2^53 both round the same way.
  int64: fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -1000, max: 1000 }), fc.constant(0)),
  uint64: fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 1000 })),
  double: fc.double({ noNaN: true }),
};

function messageArbitrary(
  schema: ProtoSchema,
  message: string,
  depth = 0,
): fc.Arbitrary<Record<string, unknown>> {
  const fields = schema.messages[message]!;
  const oneofs = [...new Set(fields.flatMap((field) => (field.oneof ? [field.oneof] : [])))];
  const plain = fields.filter((field) => !field.oneof);
  const record = fc.record(
    Object.fromEntries(plain.map((field) => [field.name, fieldArbitrary(schema, field, depth)])),
    { requiredKeys: [] },
  );
  // At most one member of a oneof set, as a caller would.
  const chosen = oneofs.map((oneof) =>
    fc.option(
      fc.oneof(
        ...fields
          .filter((field) => field.oneof === oneof)
          .map((field) => fieldArbitrary(schema, field, depth).map((value) => ({ [field.name]: value }))),
      ),
      { nil: {} },
    ),
  );
  return fc
    .tuple(record, ...chosen)
    .map(([base, ...members]) => Object.assign({}, base, ...members) as Record<string, unknown>);
}

function fieldArbitrary(schema: ProtoSchema, field: FieldSchema, depth: number): fc.Arbitrary<unknown> {
  if (field.map)
    return fc.dictionary(scalarArbitrary.string as fc.Arbitrary<string>, scalarArbitrary[field.map.value]);
  let single: fc.Arbitrary<unknown>;
  if (field.type === 'message') single = messageArbitrary(schema, field.ref!, depth + 1);
  else if (field.type === 'enum') {
    const values = schema.enums[field.ref!]!;
    single = fc.oneof(fc.constantFrom(...Object.keys(values)), fc.constantFrom(...Object.values(values)));
  } else single = scalarArbitrary[field.type];
  return field.repeated ? fc.array(single, { maxLength: 4 }) : single;
}

describe('proto/wire', () => {
  for (const [file, schema] of Object.entries(SCHEMAS)) {
    const codecs = new SchemaCodecs(schema);
    const references = referenceCodecs(reference(file));
    // proto-loader names message types without their package.
    const shortName = (message: string) => message.slice(message.lastIndexOf('.') + 1);
    for (const message of Object.keys(schema.messages).filter((name) => references.has(shortName(name)))) {
      it(`${message}: the bytes and objects of protobufjs`, () => {
        const { encode, decode } = codecs.codec(message);
        const expected = references.get(shortName(message))!;
        fc.assert(
          fc.property(messageArbitrary(schema, message), (value) => {
            const bytes = encode(value);
            expect(bytes.equals(expected.serialize(value))).toBe(true);
            expect(decode(bytes)).toEqual(expected.deserialize(bytes));
          }),
          { numRuns: 200 },
        );
        // Every field left out: the defaults, as proto-loader fills them in.
        expect(decode(Buffer.alloc(0))).toEqual(expected.deserialize(Buffer.alloc(0)));
      });
    }
  }

  it('gives the services the paths, streaming flags and method aliases that proto-loader gave', () => {
    const services = {
      ca: loadCaProto().CertificateService.service,
      policy: loadPolicyProto().PolicyService.service,
      events: loadEventsProto().EventService.service,
      blocks: loadBlocksProto().BlockService.service,
    };
    for (const [file, service] of Object.entries(services)) {
      const expected = Object.values(reference(file)).find((entry) => !('format' in entry))!;
      const shape = (methods: object) =>
        Object.fromEntries(
          Object.entries(methods as Record<string, Record<string, unknown>>).map(([name, method]) => [
            name,
            [method.path, method.requestStream, method.responseStream, method.originalName],
          ]),
        );
      expect(shape(service)).toEqual(shape(expected));
    }
  });

  const snapshot = new SchemaCodecs(policy).codec('lanyard.policy.v1.PolicySnapshot');
  const batch = new SchemaCodecs(events).codec('lanyard.events.v1.EventBatch');

  it('refuses a truncated message', () => {
    const bytes = snapshot.encode({ version: 'v1', snapshotJson: '{"a":1}' });
    expect(() => snapshot.decode(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError);
  });

  it('refuses a known field with another wire type than its own', () => {
    // Field 1 (version, a string) sent as a varint.
    expect(() => snapshot.decode(Buffer.from([0x08, 0x01]))).toThrow(/wire type 0/);
  });

  it('refuses groups and varints longer than ten bytes', () => {
    expect(() => snapshot.decode(Buffer.from([0x2b, 0x2c]))).toThrow(/wire type 3/);
    expect(() => batch.decode(Buffer.from([0x08, ...Array<number>(10).fill(0xff), 0x01]))).toThrow(
      /10 bytes/,
    );
  });

  it('skips fields it does not know, as a newer sender may add them', () => {
    const known = snapshot.encode({ version: 'v2' });
    const unknown = Buffer.from([0xf8, 0x01, 0x07, 0xfa, 0x01, 0x02, 0x61, 0x62]); // fields 31 and 31
    expect(snapshot.decode(Buffer.concat([unknown, known])).version).toBe('v2');
  });

  it('keeps a map key named __proto__ as a key, not as the prototype', () => {
    const decoded = snapshot.decode(
      snapshot.encode({ workloadLabels: JSON.parse('{"__proto__":"x"}') as Record<string, string> }),
    );
    const labels = decoded.workloadLabels as Record<string, string>;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.entries(labels)).toEqual([['__proto__', 'x']]);
  });

  it('refuses an enum name the enum does not have, where protobufjs dropped the field', () => {
    expect(() => batch.encode({ events: [{ decision: 'MAYBE' }] })).toThrow(
      /unknown lanyard.events.v1.Decision/,
    );
  });

  it('refuses values of the wrong shape', () => {
    expect(() => batch.encode([])).toThrow(TypeError);
    expect(() => batch.encode({ events: {} })).toThrow(/array expected/);
    expect(() => batch.encode({ events: ['x'] })).toThrow(/object expected/);
    expect(() => batch.encode({ sequence: 'twelve' })).toThrow(/integer expected/);
  });
});
