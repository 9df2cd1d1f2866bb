import { EdgecertError } from "../errors.ts";
import { toBytes, type BytesLike } from "./bytes.ts";
import type { Bytes } from "./web-types.ts";

const CHUNK = 0x8000;

/** Standard base64 (RFC 4648 §4) with padding. */
export function base64Encode(data: BytesLike | string): string {
  const bytes = toBytes(data);
  let binary = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** Decodes standard base64; whitespace is ignored. Throws `EdgecertError("malformed_der")` on bad input. */
export function base64Decode(text: string): Bytes {
  const clean = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new EdgecertError("malformed_der", "invalid base64 text");
  }
  let binary: string;
  try {
    binary = atob(clean);
  } catch (cause) {
    throw new EdgecertError("malformed_der", "invalid base64 text", { cause });
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

const URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * base64url without padding (RFC 7515 §2, RFC 4648 §5). Encoded directly from the alphabet: every JWS
 * encodes two parts, and this is cheaper than base64 plus rewriting.
 */
export function base64urlEncode(data: BytesLike | string): string {
  const b = toBytes(data);
  let out = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    out += URL_ALPHABET[n >> 18]! + URL_ALPHABET[(n >> 12) & 63]! + URL_ALPHABET[(n >> 6) & 63]! + URL_ALPHABET[n & 63]!;
  }
  if (i < b.length) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8);
    out += URL_ALPHABET[n >> 18]! + URL_ALPHABET[(n >> 12) & 63]!;
    if (i + 1 < b.length) out += URL_ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes unpadded base64url (RFC 7515 §2). Padding and characters outside the URL-safe alphabet are
 * rejected with `EdgecertError("invalid_input")`.
 */
export function base64urlDecode(text: string): Bytes {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new EdgecertError("invalid_input", "invalid base64url text");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return base64Decode(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
}
