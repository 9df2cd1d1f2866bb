import { EdgecertError } from "../errors.ts";
import { toBytes, type BytesLike } from "./bytes.ts";

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
export function base64Decode(text: string): Uint8Array<ArrayBuffer> {
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

/** base64url without padding (RFC 7515 §2, RFC 4648 §5). */
export function base64urlEncode(data: BytesLike | string): string {
  return base64Encode(data).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * Decodes unpadded base64url (RFC 7515 §2). Padding and characters outside the URL-safe alphabet are
 * rejected with `EdgecertError("invalid_input")`.
 */
export function base64urlDecode(text: string): Uint8Array<ArrayBuffer> {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new EdgecertError("invalid_input", "invalid base64url text");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return base64Decode(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
}
