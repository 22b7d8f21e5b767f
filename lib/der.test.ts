import { describe, expect, it } from 'vitest';
import {
  children,
  headerSize,
  oid,
  oidToString,
  readElement,
  sequence,
  TAG,
  tlv,
  time,
  writeHeader,
} from './der.ts';

describe('DER', () => {
  it('encodes lengths in short and long form, and reads them back', () => {
    for (const size of [0, 127, 128, 255, 256, 70_000]) {
      const encoded = tlv(0x04, Buffer.alloc(size, 1));
      expect(encoded.length - size).toBe(headerSize(size));
      const element = readElement(encoded, 0);
      expect(element.end - element.contentStart).toBe(size);
      expect(element.end).toBe(encoded.length);
    }
  });

  it('round-trips OIDs with multi-byte arcs', () => {
    for (const dotted of [
      '2.5.29.17',
      '1.2.840.10045.4.3.2',
      '1.3.6.1.4.1.311.21.7',
      '1.3.6.1.4.1.2147483648.0',
      '2.999.3',
      '0.0',
    ]) {
      expect(oidToString(oid(dotted).subarray(2))).toBe(dotted);
    }
    // X.690 8.19.5: 2.999 is the single subidentifier 1079, in two bytes.
    expect(oid('2.999.3')).toEqual(Buffer.of(0x06, 0x03, 0x88, 0x37, 0x03));
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
  });

  it('refuses what is not an OID, and OID content that is not minimal or ends mid-arc', () => {
    for (const bad of ['', '1', '3.1', '1.40', '1.2.', '1..2', '1.02', 'a.b', '1.2.-3']) {
      expect(() => oid(bad)).toThrow(TypeError);
    }
    expect(() => oidToString(Buffer.of(0x2a, 0x80, 0x01))).toThrow(RangeError);
    expect(() => oidToString(Buffer.of(0x2a, 0x86))).toThrow(RangeError);
    expect(() => oidToString(Buffer.alloc(0))).toThrow(RangeError);
  });

  it('reads an INTEGER whose content has the high bit set behind a 0x00, as serials are written', () => {
    const encoded = tlv(TAG.INTEGER, Buffer.of(0x00, 0x80, 0x01));
    expect(encoded.toString('hex')).toBe('0203008001');
    const element = readElement(encoded, 0);
    expect(element.tag).toBe(TAG.INTEGER);
    expect(encoded.subarray(element.contentStart, element.end)).toEqual(Buffer.of(0x00, 0x80, 0x01));
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050', () => {
    expect(time(Date.UTC(2026, 0, 2, 3, 4, 5)).toString('latin1', 2)).toBe('260102030405Z');
    expect(time(Date.UTC(2026, 0, 2, 3, 4, 5))[0]).toBe(0x17);
    const later = time(Date.UTC(2051, 11, 31, 23, 59, 59));
    expect(later[0]).toBe(0x18);
    expect(later.toString('latin1', 2)).toBe('20511231235959Z');
  });

  it('refuses non-minimal lengths and truncation', () => {
    expect(() => readElement(Buffer.of(0x30, 0x81, 0x05, 0, 0, 0, 0, 0), 0)).toThrow(RangeError);
    expect(() => readElement(Buffer.of(0x30, 0x05, 0), 0)).toThrow(RangeError);
    const nested = sequence(tlv(0x02, Buffer.of(1)), tlv(0x02, Buffer.of(2)));
    expect(children(nested, readElement(nested, 0))).toHaveLength(2);
  });

  it('writes headers in place exactly as tlv encodes them', () => {
    for (const size of [0, 127, 128, 255, 256, 65_535, 65_536, 70_000]) {
      const encoded = tlv(0x30, Buffer.alloc(size));
      const target = Buffer.alloc(headerSize(size));
      expect(writeHeader(target, 0, 0x30, size)).toBe(target.length);
      expect(target.equals(encoded.subarray(0, target.length))).toBe(true);
    }
  });
});
