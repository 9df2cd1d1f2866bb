import { EdgecertError } from "../errors.ts";
import { base64Decode, base64Encode } from "./base64url.ts";
import { toBytes, type BytesLike } from "./bytes.ts";
import type { Bytes } from "./web-types.ts";

/** One decoded PEM block (RFC 7468). */
export interface PemBlock {
  /** The PEM label, e.g. `CERTIFICATE`. */
  label: string;
  /** The decoded bytes. */
  der: Bytes;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Encodes DER as PEM with 64-character lines (RFC 7468 §2). */
export function pemEncode(label: string, der: BytesLike): string {
  const b64 = base64Encode(toBytes(der));
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Decodes every PEM block in `text`, in order. Text between blocks is ignored (RFC 7468 §5.2).
 * Throws `EdgecertError("malformed_pem")` when there is no block, labels do not match or the base64 is bad.
 */
export function pemDecodeAll(text: string): PemBlock[] {
  if (typeof text !== "string") throw new EdgecertError("malformed_pem", "PEM input must be a string");
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m;
    if (begin !== end) {
      throw new EdgecertError("malformed_pem", `PEM block BEGIN ${begin} ends with END ${end}`);
    }
    // RFC 7468 §2: headers (RFC 1421 style) are not allowed in the formats we read.
    if (body!.includes(":")) throw new EdgecertError("malformed_pem", `PEM block ${begin} has headers`);
    let der: Bytes;
    try {
      der = base64Decode(body!);
    } catch (cause) {
      throw new EdgecertError("malformed_pem", `PEM block ${begin} has invalid base64`, { cause });
    }
    if (der.length === 0) throw new EdgecertError("malformed_pem", `PEM block ${begin} is empty`);
    blocks.push({ label: begin!, der });
  }
  if (blocks.length === 0) throw new EdgecertError("malformed_pem", "no PEM block found");
  return blocks;
}

/** Decodes the first PEM block with one of the given labels. */
export function pemDecode(text: string, ...labels: string[]): PemBlock {
  const blocks = pemDecodeAll(text);
  const found = labels.length === 0 ? blocks[0] : blocks.find((b) => labels.includes(b.label));
  if (!found) {
    throw new EdgecertError("malformed_pem", `no PEM block labelled ${labels.join(" or ")}`);
  }
  return found;
}

/** Splits a PEM certificate chain into one normalised PEM string per certificate, leaf first. */
export function splitPemChain(pem: string): string[] {
  const certs = pemDecodeAll(pem).filter((b) => b.label === "CERTIFICATE");
  if (certs.length === 0) throw new EdgecertError("malformed_pem", "no CERTIFICATE block found");
  return certs.map((b) => pemEncode("CERTIFICATE", b.der));
}
