// Protocol Buffers encoding and decoding driven by the schemas that proto/generate.sh writes into
// proto/generated/schema/ from the .proto files. It replaces parsing the .proto files at run
// time with @grpc/proto-loader and protobufjs, which cost every sidecar some 4 MB of memory.
// The objects are those proto-loader gives with the options of proto/generate.sh (camelCase
// names, 64-bit integers as numbers, defaults filled in, arrays always present, enums as
// numbers), and the bytes those protobufjs writes (fields in number order, every field that is
// set written even when it holds the default); proto/wire.test.ts checks both against
// protobufjs. Only the field types that the .proto files use are supported: the generator
// refuses the others. Decoding is stricter than protobufjs: a known field with the wrong wire
// type, a group, a truncated message or an unknown enum name is an error, not a guess.

export type ScalarType = 'string' | 'bytes' | 'bool' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'double';

export interface FieldSchema {
  readonly id: number;
  /** camelCase, as proto-loader names it with keepCase false. */
  readonly name: string;
  readonly type: ScalarType | 'enum' | 'message';
  /** The full name of the message or enum type. */
  readonly ref?: string;
  readonly repeated?: true;
  /** The oneof this field belongs to. */
  readonly oneof?: string;
  readonly map?: { readonly key: ScalarType; readonly value: ScalarType };
}

export interface MethodSchema {
  /** The lowerCamelCase alias that proto-loader adds to clients (`issueX509Svid`). */
  readonly originalName: string;
  readonly request: string;
  readonly response: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

export interface ProtoSchema {
  /** Fields by message full name, ordered by field number. */
  readonly messages: Readonly<Record<string, readonly FieldSchema[]>>;
  readonly enums: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly services: Readonly<Record<string, Readonly<Record<string, MethodSchema>>>>;
}

export interface MessageCodec {
  readonly encode: (value: unknown) => Buffer;
  readonly decode: (bytes: Uint8Array) => Record<string, unknown>;
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const WIRE_TYPE: Record<ScalarType | 'enum' | 'message', number> = {
  string: LENGTH_DELIMITED,
  bytes: LENGTH_DELIMITED,
  message: LENGTH_DELIMITED,
  bool: VARINT,
  int32: VARINT,
  uint32: VARINT,
  int64: VARINT,
  uint64: VARINT,
  enum: VARINT,
  double: FIXED64,
};

const TWO_32 = 4294967296;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class Writer {
  private buf = Buffer.allocUnsafe(64);
  private pos = 0;

  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  uint32(value: number): void {
    this.room(5);
    let rest = value >>> 0;
    while (rest > 127) {
      this.buf[this.pos++] = (rest & 127) | 128;
      rest >>>= 7;
    }
    this.buf[this.pos++] = rest;
  }

  /** A 64-bit varint from its two unsigned 32-bit halves. */
  uint64(lo: number, hi: number): void {
    this.room(10);
    while (hi !== 0 || lo > 127) {
      this.buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  /** Negative int32 values take ten bytes, sign-extended to 64 bits, as the specification says. */
  int32(value: number): void {
    if (value >= 0) this.uint32(value);
    else this.uint64(value >>> 0, 0xffffffff);
  }

  tag(id: number, wireType: number): void {
    this.uint32(((id << 3) | wireType) >>> 0);
  }

  double(value: number): void {
    this.room(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  bytes(value: Uint8Array): void {
    this.uint32(value.length);
    this.room(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  string(value: string): void {
    // Short ASCII strings (most of what the sidecar sends) byte by byte: no native call.
    if (value.length < 128 && this.ascii(value)) return;
    const length = Buffer.byteLength(value);
    this.uint32(length);
    this.room(length);
    this.pos += this.buf.write(value, this.pos, length, 'utf8');
  }

  /** Writes `value` with its one-byte length if it is all ASCII; false (nothing kept) if not. */
  private ascii(value: string): boolean {
    const length = value.length;
    this.room(length + 1);
    const { buf } = this;
    const start = this.pos + 1;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 127) return false;
      buf[start + i] = code;
    }
    buf[this.pos] = length;
    this.pos = start + length;
    return true;
  }

  /** Starts a length-delimited part written in place; end it with endLengthDelimited(mark). */
  startLengthDelimited(): number {
    this.room(1);
    return this.pos++;
  }

  /** Writes the part's length at `mark`, moving the part when the length takes more than one byte. */
  endLengthDelimited(mark: number): void {
    const length = this.pos - mark - 1;
    let size = 1;
    for (let rest = length >>> 7; rest > 0; rest >>>= 7) size += 1;
    if (size > 1) {
      this.room(size - 1);
      this.buf.copyWithin(mark + size, mark + 1, this.pos);
      this.pos += size - 1;
    }
    const end = this.pos;
    this.pos = mark;
    this.uint32(length);
    this.pos = end;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new RangeError('truncated protobuf message');
    return this.buf[this.pos++]!;
  }

  /** A varint as its two unsigned 32-bit halves. */
  varint(): [lo: number, hi: number] {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.byte();
      const bits = byte & 127;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (byte < 128) return [lo >>> 0, hi >>> 0];
    }
    throw new RangeError('protobuf varint longer than 10 bytes');
  }

  uint32(): number {
    return this.varint()[0];
  }

  length(): number {
    const length = this.uint32();
    if (length > this.end - this.pos) throw new RangeError('truncated protobuf message');
    return length;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.advance(8);
        return;
      case LENGTH_DELIMITED:
        this.advance(this.length());
        return;
      case FIXED32:
        this.advance(4);
        return;
      default:
        throw new RangeError(`unsupported protobuf wire type ${wireType}`);
    }
  }

  advance(bytes: number): void {
    if (bytes > this.end - this.pos) throw new RangeError('truncated protobuf message');
    this.pos += bytes;
  }
}

/** The two's-complement halves of a 64-bit integer given as a number, a decimal string or a Long. */
function longBits(value: unknown, path: string): [lo: number, hi: number] {
  if (typeof value === 'number' && value >= 0 && value < TWO_32 && Number.isInteger(value)) return [value, 0];
  let big: bigint;
  if (typeof value === 'number') big = Number.isNaN(value) ? 0n : clamp(value);
  else if (typeof value === 'string' && /^-?\d+$/.test(value)) big = BigInt(value);
  else if (typeof value === 'object' && value !== null && 'low' in value && 'high' in value)
    return [Number(value.low) >>> 0, Number(value.high) >>> 0];
  else throw new TypeError(`${path}: integer expected`);
  const bits = BigInt.asUintN(64, big);
  return [Number(bits & 0xffffffffn), Number(bits >> 32n)];
}

function clamp(value: number): bigint {
  if (value === Infinity) return INT64_MAX;
  if (value === -Infinity) return INT64_MIN;
  const big = BigInt(Math.trunc(value));
  return big < INT64_MIN ? INT64_MIN : big > INT64_MAX ? INT64_MAX : big;
}

function longNumber(lo: number, hi: number, signed: boolean): number {
  if (signed && hi >>> 31) {
    lo = (~lo + 1) >>> 0;
    hi = ~hi >>> 0;
    if (!lo) hi = (hi + 1) >>> 0;
    return -(lo + hi * TWO_32);
  }
  return lo + hi * TWO_32;
}

function defaultOf(type: ScalarType | 'enum'): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'bool':
      return false;
    default:
      return 0;
  }
}

/** A map key or value, or a message field: sets a property without touching the prototype. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Encoders and decoders for every message of one schema, made once and shared. */
export class SchemaCodecs {
  private readonly codecs = new Map<string, MessageCodec>();

  constructor(private readonly schema: ProtoSchema) {
    for (const [message, fields] of Object.entries(schema.messages))
      for (const field of fields) {
        if (field.repeated && WIRE_TYPE[field.type] !== LENGTH_DELIMITED)
          throw new TypeError(`${message}.${field.name}: repeated ${field.type} (packed) is not supported`);
        if (field.ref && !(field.ref in (field.type === 'enum' ? schema.enums : schema.messages)))
          throw new TypeError(`${message}.${field.name}: unknown type ${field.ref}`);
      }
  }

  codec(message: string): MessageCodec {
    let codec = this.codecs.get(message);
    if (!codec) {
      if (!(message in this.schema.messages)) throw new TypeError(`unknown message ${message}`);
      codec = {
        encode: (value) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value))
            throw new TypeError(`${message}: object expected`);
          const writer = new Writer();
          this.write(writer, message, value as Record<string, unknown>, message);
          return writer.finish();
        },
        decode: (bytes) => {
          const buf = Buffer.isBuffer(bytes)
            ? bytes
            : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
          return this.read(new Reader(buf, 0, buf.length), message);
        },
      };
      this.codecs.set(message, codec);
    }
    return codec;
  }

  private write(writer: Writer, message: string, value: Record<string, unknown>, path: string): void {
    for (const field of this.schema.messages[message]!) {
      const fieldValue = value[field.name];
      if (fieldValue === undefined || fieldValue === null) continue;
      if (typeof fieldValue === 'string' && field.type === 'string' && !field.repeated && !field.map) {
        writer.tag(field.id, LENGTH_DELIMITED);
        writer.string(fieldValue);
        continue;
      }
      const fieldPath = `${path}.${field.name}`;
      if (field.map) {
        if (typeof fieldValue !== 'object') throw new TypeError(`${fieldPath}: object expected`);
        for (const [key, entry] of Object.entries(fieldValue)) {
          const entryWriter = new Writer();
          this.writeScalar(entryWriter, 1, field.map.key, key, fieldPath);
          this.writeScalar(entryWriter, 2, field.map.value, entry, fieldPath);
          writer.tag(field.id, LENGTH_DELIMITED);
          writer.bytes(entryWriter.finish());
        }
      } else if (field.repeated) {
        if (!Array.isArray(fieldValue)) throw new TypeError(`${fieldPath}: array expected`);
        for (const item of fieldValue) this.writeField(writer, field, item, fieldPath);
      } else this.writeField(writer, field, fieldValue, fieldPath);
    }
  }

  private writeField(writer: Writer, field: FieldSchema, value: unknown, path: string): void {
    if (field.type === 'message') {
      if (typeof value !== 'object' || value === null) throw new TypeError(`${path}: object expected`);
      writer.tag(field.id, LENGTH_DELIMITED);
      const mark = writer.startLengthDelimited();
      this.write(writer, field.ref!, value as Record<string, unknown>, path);
      writer.endLengthDelimited(mark);
    } else if (field.type === 'enum') {
      // proto3 enums are open: any integer goes, but a name must be one of the enum's.
      const values = this.schema.enums[field.ref!]!;
      let number: number | undefined;
      if (typeof value === 'string') number = Object.hasOwn(values, value) ? values[value] : undefined;
      else if (Number.isInteger(value)) number = value as number;
      if (number === undefined) throw new TypeError(`${path}: unknown ${field.ref} value ${String(value)}`);
      writer.tag(field.id, VARINT);
      writer.int32(number | 0);
    } else this.writeScalar(writer, field.id, field.type, value, path);
  }

  private writeScalar(writer: Writer, id: number, type: ScalarType, value: unknown, path: string): void {
    writer.tag(id, WIRE_TYPE[type]);
    switch (type) {
      case 'string':
        writer.string(String(value));
        return;
      case 'bytes':
        if (typeof value === 'string') writer.bytes(Buffer.from(value, 'base64'));
        else if (value instanceof Uint8Array) writer.bytes(value);
        else throw new TypeError(`${path}: bytes expected`);
        return;
      case 'bool':
        writer.uint32(value ? 1 : 0);
        return;
      case 'int32':
        writer.int32(Number(value) | 0);
        return;
      case 'uint32':
        writer.uint32(Number(value) >>> 0);
        return;
      case 'int64':
      case 'uint64':
        writer.uint64(...longBits(value, path));
        return;
      case 'double':
        writer.double(Number(value));
        return;
    }
  }

  private read(reader: Reader, message: string): Record<string, unknown> {
    const fields = this.schema.messages[message]!;
    const out: Record<string, unknown> = {};
    for (const field of fields) {
      if (field.oneof) continue;
      if (field.map) out[field.name] = {};
      else if (field.repeated) out[field.name] = [];
      else out[field.name] = field.type === 'message' ? null : defaultOf(field.type);
    }
    while (reader.pos < reader.end) {
      const tag = reader.uint32();
      const id = tag >>> 3;
      const wireType = tag & 7;
      if (id === 0) throw new RangeError(`${message}: field number 0`);
      const field = fields.find((candidate) => candidate.id === id);
      if (!field) {
        reader.skip(wireType);
        continue;
      }
      if (wireType !== WIRE_TYPE[field.map ? 'message' : field.type])
        throw new RangeError(`${message}.${field.name}: wire type ${wireType} does not match ${field.type}`);
      if (field.map) {
        const length = reader.length();
        const end = reader.pos + length;
        const entry = this.readMapEntry(new Reader(reader.buf, reader.pos, end), field.map, message);
        reader.pos = end;
        setOwn(out[field.name] as Record<string, unknown>, entry[0], entry[1]);
        continue;
      }
      const value = this.readValue(reader, field);
      if (field.repeated) (out[field.name] as unknown[]).push(value);
      else {
        // A oneof holds the member seen last, as the specification says.
        if (field.oneof)
          for (const other of fields)
            if (other.oneof === field.oneof && other !== field) delete out[other.name];
        out[field.name] = value;
      }
    }
    return out;
  }

  private readMapEntry(
    reader: Reader,
    map: NonNullable<FieldSchema['map']>,
    message: string,
  ): [key: string, value: unknown] {
    let key = defaultOf(map.key);
    let value = defaultOf(map.value);
    while (reader.pos < reader.end) {
      const tag = reader.uint32();
      const id = tag >>> 3;
      const wireType = tag & 7;
      const type = id === 1 ? map.key : id === 2 ? map.value : undefined;
      if (!type) {
        reader.skip(wireType);
        continue;
      }
      if (wireType !== WIRE_TYPE[type])
        throw new RangeError(`${message}: map entry wire type ${wireType} does not match ${type}`);
      if (id === 1) key = this.readScalar(reader, type);
      else value = this.readScalar(reader, type);
    }
    return [String(key), value];
  }

  private readValue(reader: Reader, field: FieldSchema): unknown {
    if (field.type === 'message') {
      const length = reader.length();
      const end = reader.pos + length;
      const value = this.read(new Reader(reader.buf, reader.pos, end), field.ref!);
      reader.pos = end;
      return value;
    }
    if (field.type === 'enum') return reader.uint32() | 0;
    return this.readScalar(reader, field.type);
  }

  private readScalar(reader: Reader, type: ScalarType): unknown {
    switch (type) {
      case 'string': {
        const length = reader.length();
        reader.pos += length;
        return reader.buf.toString('utf8', reader.pos - length, reader.pos);
      }
      case 'bytes': {
        const length = reader.length();
        reader.pos += length;
        // A copy: a view would keep the whole received message alive.
        return Buffer.from(reader.buf.subarray(reader.pos - length, reader.pos));
      }
      case 'bool': {
        const [lo, hi] = reader.varint();
        return lo !== 0 || hi !== 0;
      }
      case 'int32':
        return reader.uint32() | 0;
      case 'uint32':
        return reader.uint32();
      case 'int64':
      case 'uint64': {
        const [lo, hi] = reader.varint();
        return longNumber(lo, hi, type === 'int64');
      }
      case 'double': {
        reader.advance(8);
        return reader.buf.readDoubleLE(reader.pos - 8);
      }
    }
  }
}
