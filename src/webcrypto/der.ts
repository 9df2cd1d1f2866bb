/**
 * DER (X.690) as certificates, CSRs and keys use it: read one element or a constructed value's members,
 * write an element, and the primitive types X.509 needs (OBJECT IDENTIFIER, INTEGER, times, strings).
 * Reading never trusts a length: every element is checked to lie inside its input.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { concatBytes } from "./bytes.ts";
import type { Bytes } from "./web-types.ts";

/** Universal tags X.509 uses (X.680 §8.6), as the tag byte of a DER element. */
export const DER = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const malformed = (why: string): EdgecertError => new EdgecertError("malformed_der", why);

/** One DER tag-length-value element. `value` is a view into the input. */
export interface DerElement {
  /** The tag byte. */
  tag: number;
  /** Offset just past this element in the input. */
  end: number;
  /** The contents. */
  value: Bytes;
}

/**
 * Reads one DER element at `offset` (X.690 §8.1). Only definite lengths up to 2^31 and single-byte
 * tags are accepted, which is all that certificates, keys and CSRs use.
 */
export function readDer(input: Bytes, offset = 0): DerElement {
  const fail = (why: string): never => {
    throw new EdgecertError("malformed_der", `malformed DER at offset ${offset}: ${why}`);
  };
  if (offset + 2 > input.length) fail("truncated header");
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) fail("multi-byte tags are not supported");
  let length = input[offset + 1]!;
  let pos = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) fail("unsupported length form");
    if (pos + count > input.length) fail("truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[pos + i]!;
    pos += count;
  }
  if (pos + length > input.length) fail("length runs past the end");
  return { tag, end: pos + length, value: input.subarray(pos, pos + length) };
}

/**
 * Reads the one element that makes up all of `input` and checks its tag; `what` names it in the error.
 * DER has exactly one encoding of a value, so bytes after it are an error too.
 */
export function readDerWhole(input: Bytes, tag: number, what: string): DerElement {
  const el = readDer(input);
  if (el.tag !== tag) throw malformed(`${what}: expected tag 0x${tag.toString(16)}, found 0x${el.tag.toString(16)}`);
  if (el.end !== input.length) throw malformed(`${what}: ${input.length - el.end} bytes after the end`);
  return el;
}

/** Reads every element inside a constructed value (e.g. the members of a SEQUENCE). */
export function readDerChildren(value: Bytes): DerElement[] {
  const out: DerElement[] = [];
  let offset = 0;
  while (offset < value.length) {
    const el = readDer(value, offset);
    out.push(el);
    offset = el.end;
  }
  return out;
}

/** Encodes one DER element. */
export function encodeDer(tag: number, value: Bytes): Bytes {
  if (value.length >= 0x1000000) throw new EdgecertError("invalid_input", "DER value over 16 MB");
  const len = value.length;
  let header: number[];
  if (len < 0x80) header = [tag, len];
  else if (len < 0x100) header = [tag, 0x81, len];
  else if (len < 0x10000) header = [tag, 0x82, len >> 8, len & 0xff];
  else header = [tag, 0x83, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff];
  const out = new Uint8Array(header.length + len);
  out.set(header);
  out.set(value, header.length);
  return out;
}

/** A SEQUENCE of already encoded members. */
export const derSequence = (...members: Bytes[]): Bytes => encodeDer(DER.SEQUENCE, concatBytes(...members));

/** Encodes a dotted OBJECT IDENTIFIER (X.690 §8.19): first two arcs in one subidentifier, base 128. */
export function encodeOid(oid: string): Bytes {
  const arcs = oid.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0) || arcs[0]! > 2 || (arcs[0]! < 2 && arcs[1]! > 39)) {
    throw new EdgecertError("invalid_input", `not an OBJECT IDENTIFIER: ${JSON.stringify(oid)}`);
  }
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const digits = [arc % 128];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) digits.unshift((n % 128) | 0x80);
    out.push(...digits);
  }
  return encodeDer(DER.OID, new Uint8Array(out));
}

/** Decodes an OBJECT IDENTIFIER's content octets to dotted form (X.690 §8.19). */
export function decodeOid(value: Bytes): string {
  if (value.length === 0) throw new EdgecertError("malformed_der", "empty OBJECT IDENTIFIER");
  const arcs: number[] = [];
  let n = 0;
  for (const byte of value) {
    n = n * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(n);
      n = 0;
    }
  }
  if (value[value.length - 1]! & 0x80) throw malformed("OBJECT IDENTIFIER ends inside a subidentifier");
  const first = arcs.shift() ?? 0;
  const top = first < 80 ? Math.floor(first / 40) : 2;
  return [top, first - top * 40, ...arcs].join(".");
}

/** Minimal unsigned big-endian INTEGER content: strips leading zeros, adds one when the top bit is set. */
export function encodeUnsignedInteger(bytes: Bytes): Bytes {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  if (trimmed[0]! & 0x80) {
    const out = new Uint8Array(trimmed.length + 1);
    out.set(trimmed, 1);
    return encodeDer(0x02, out);
  }
  return encodeDer(0x02, trimmed);
}

/**
 * A UTCTime or GeneralizedTime (X.690 §11.7–11.8) in the form RFC 5280 §4.1.2.5 requires: UTC ("Z"),
 * with seconds; UTCTime years 50–99 are 19xx. GeneralizedTime may carry a fraction of a second.
 */
export function decodeDerTime(el: DerElement): Date {
  if (el.value.length > 32) throw malformed(`a time of ${el.value.length} bytes`);
  const text = latin1(el.value);
  const m =
    el.tag === DER.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : el.tag === DER.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/.exec(text)
        : null;
  if (!m) throw malformed(`not an RFC 5280 time: tag 0x${el.tag.toString(16)} ${JSON.stringify(text.slice(0, 32))}`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(el.tag === DER.UTC_TIME ? (year < 50 ? 2000 + year : 1900 + year) : year, month - 1, day);
  date.setUTCHours(hour, minute, second, m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0);
  // The Date setters roll 31 February over into March: a field out of range is an error, not another date.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw malformed(`not a calendar time: ${text}`);
  return date;
}

/** A certificate validity time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function encodeDerTime(date: Date): Bytes {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) throw new EdgecertError("invalid_input", `time out of range: ${String(date)}`);
  const digits = date.toISOString().slice(0, 19).replace(/[-T:]/g, "");
  const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  return year >= 1950 && year < 2050 ? encodeDer(DER.UTC_TIME, ascii(`${digits.slice(2)}Z`)) : encodeDer(DER.GENERALIZED_TIME, ascii(`${digits}Z`));
}

/**
 * The text of a string-valued element: UTF8String, the ASCII strings (Printable, IA5, Visible, Numeric),
 * TeletexString as Latin-1, BMPString (UTF-16) and UniversalString (UTF-32); undefined for any other tag.
 */
export function decodeDerString(el: DerElement): string | undefined {
  const v = el.value;
  switch (el.tag) {
    case DER.UTF8_STRING:
      return new TextDecoder().decode(v);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x14: // TeletexString (T.61), read as Latin-1 as most software does
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return latin1(v);
    case 0x1e: // BMPString: UCS-2, big-endian
      return evenUnits(v, 2, (i) => String.fromCharCode((v[i]! << 8) | v[i + 1]!));
    case 0x1c: // UniversalString: UCS-4, big-endian
      return evenUnits(v, 4, (i) => {
        const cp = ((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0;
        return cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
      });
    default:
      return undefined;
  }
}

/** Bytes as Latin-1 text (one character per byte). */
export function latin1(bytes: Bytes): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function evenUnits(v: Bytes, size: number, unit: (i: number) => string): string {
  if (v.length % size !== 0) throw malformed(`a ${size * 8}-bit string of ${v.length} bytes`);
  let s = "";
  for (let i = 0; i < v.length; i += size) s += unit(i);
  return s;
}
