/** Anything WebCrypto accepts as bytes. */
import type { Bytes } from "./web-types.ts";
/** Bytes as a view or a buffer. */
export type BytesLike = Uint8Array | ArrayBuffer;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Views `data` as an ArrayBuffer-backed `Uint8Array`, copying only when it must. */
export function toBytes(data: BytesLike | string): Bytes {
  if (typeof data === "string") return encoder.encode(data) as Bytes;
  if (!(data instanceof Uint8Array)) return new Uint8Array(data);
  // A view over a SharedArrayBuffer is copied: WebCrypto only takes ArrayBuffer-backed views.
  return data.buffer instanceof ArrayBuffer ? (data as Bytes) : new Uint8Array(data);
}

/** Decodes UTF-8; throws a `TypeError` on invalid sequences. */
export function utf8Decode(data: BytesLike): string {
  return decoder.decode(data);
}

/** Concatenates byte arrays into a new one. */
export function concatBytes(...parts: Bytes[]): Bytes {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Lower-case hex of `data`. */
export function toHex(data: BytesLike): string {
  let s = "";
  for (const b of toBytes(data)) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Copies `data` into a fresh `ArrayBuffer` (what asn1-schema and some WebCrypto typings want). */
export function toArrayBuffer(data: BytesLike): ArrayBuffer {
  const bytes = toBytes(data);
  return bytes.slice().buffer as ArrayBuffer;
}
