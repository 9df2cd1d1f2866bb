import { EdgecertError } from "../errors.ts";
import type { Bytes } from "./web-types.ts";

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
