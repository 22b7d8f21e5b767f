// A minimal DER encoder and reader: just what the CA's leaf template and CSR parser, and the
// workload's CSR, need.
// A generic ASN.1 library costs more per certificate than the signature itself.

export const TAG = Object.freeze({
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
});

function header(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.of(tag, length);
  if (length < 0x100) return Buffer.of(tag, 0x81, length);
  if (length < 0x10000) return Buffer.of(tag, 0x82, length >> 8, length & 0xff);
  if (length < 0x1000000) return Buffer.of(tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff);
  throw new RangeError('DER value too long');
}

/** The size of the tag and length octets of an element whose content is `length` bytes. */
export const headerSize = (length: number): number =>
  length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : 5;

/** Writes the tag and length octets at `offset` (room for headerSize(length)); returns the end. */
export function writeHeader(target: Buffer, offset: number, tag: number, length: number): number {
  target[offset] = tag;
  const size = headerSize(length);
  if (size === 2) {
    target[offset + 1] = length;
    return offset + 2;
  }
  if (size === 5 && length >= 0x1000000) throw new RangeError('DER value too long');
  target[offset + 1] = 0x80 | (size - 2);
  for (let i = size - 1; i >= 2; i--) {
    target[offset + i] = length & 0xff;
    length >>= 8;
  }
  return offset + size;
}

/** One tag-length-value, the length computed from the content; one copy, however many parts. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  let length = 0;
  for (const part of content) length += part.length;
  const head = header(tag, length);
  return Buffer.concat([head, ...content], head.length + length);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, ...items);

/** Appends `value` in base 128, high bit set on all but the last byte (X.690 8.19.2). */
function pushBase128(bytes: number[], value: number): void {
  const groups = [value % 128];
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) {
    groups.unshift((rest % 128) | 0x80);
  }
  bytes.push(...groups);
}

/** An OID from its dotted form; TypeError for anything that is not one. */
export function oid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9]\d{0,14}))+$/.test(dotted)) throw new TypeError(`not an OID: ${dotted}`);
  const arcs = dotted.split('.').map(Number);
  if (arcs[0]! < 2 && arcs[1]! >= 40) throw new TypeError(`not an OID: ${dotted}`);
  const bytes: number[] = [];
  // The first two arcs share one subidentifier, which may itself take several bytes (2.999).
  pushBase128(bytes, arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) pushBase128(bytes, arc);
  return tlv(TAG.OID, Buffer.from(bytes));
}

const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 section 4.1.2.5 requires. */
export function time(ms: number): Buffer {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(two(year % 100) + rest, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(year).padStart(4, '0') + rest, 'latin1'));
}

/** A decoded element: its tag and where its header and content sit in the source buffer. */
export interface Element {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Reads the element at `offset`; throws RangeError on anything that is not strict DER. */
export function readElement(buffer: Buffer, offset: number, limit = buffer.length): Element {
  if (offset + 2 > limit) throw new RangeError('DER: truncated header');
  const tag = buffer[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('DER: multi-byte tags are not supported');
  const first = buffer[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0 || count > 3) throw new RangeError('DER: unsupported length');
    if (offset + 2 + count > limit) throw new RangeError('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buffer[offset + 2 + i]!;
    if (length < 0x80 || buffer[offset + 2] === 0) throw new RangeError('DER: non-minimal length');
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw new RangeError('DER: truncated content');
  return { tag, start: offset, contentStart, end };
}

/** The direct children of a constructed element. */
export function children(buffer: Buffer, parent: Element): Element[] {
  const items: Element[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const item = readElement(buffer, at, parent.end);
    items.push(item);
    at = item.end;
  }
  return items;
}

export const bytesOf = (buffer: Buffer, element: Element): Buffer =>
  buffer.subarray(element.start, element.end);
export const contentOf = (buffer: Buffer, element: Element): Buffer =>
  buffer.subarray(element.contentStart, element.end);

/** Decodes OID content bytes to dotted form; RangeError if they are not minimal and complete. */
export function oidToString(content: Buffer): string {
  if (content.length === 0) throw new RangeError('DER: empty OID');
  const values: number[] = [];
  let value = 0;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    if (value === 0 && byte === 0x80) throw new RangeError('DER: non-minimal OID arc');
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      values.push(value);
      value = 0;
    }
  }
  if ((content[content.length - 1]! & 0x80) !== 0) throw new RangeError('DER: truncated OID');
  const first = values[0]!;
  const top = Math.min(2, Math.floor(first / 40));
  return [top, first - top * 40, ...values.slice(1)].join('.');
}
