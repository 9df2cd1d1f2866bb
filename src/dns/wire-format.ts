/**
 * The DNS message format (RFC 1035 §4) as far as a TXT lookup over DNS-over-HTTPS needs it: building a
 * one-question query and reading the answer section of a response. The parser treats its input as
 * hostile: every malformation is an `EdgecertError("bad_response")`, never another exception.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import type { Bytes } from "../webcrypto/web-types.ts";

/** RR type TXT (RFC 1035 §3.2.2). */
export const DNS_TYPE_TXT = 16;
/** RR type CNAME (RFC 1035 §3.2.2). */
export const DNS_TYPE_CNAME = 5;
/** RR type SOA (RFC 1035 §3.3.13). */
const DNS_TYPE_SOA = 6;
/** RR type CAA (RFC 8659 §4.1). */
export const DNS_TYPE_CAA = 257;
/** Class IN (RFC 1035 §3.2.4). */
const DNS_CLASS_IN = 1;

/** One resource record of an answer section, reduced to what a TXT lookup uses. */
export interface DnsAnswer {
  /** Owner name: lower-case, no trailing dot, bytes outside `[!-~]` and `.`/`\` escaped as `\DDD`. */
  name: string;
  /** The RR type (16 for TXT). */
  type: number;
  /** Time to live, seconds. */
  ttl: number;
  /** TXT only: the record's character-strings concatenated (RFC 7208 §3.3 style), decoded as UTF-8. */
  text?: string;
  /** CNAME only: the canonical name, in the same form as `name`. */
  target?: string;
  /** CAA only (RFC 8659 §4.1): flags (128 = critical), the tag lower-cased, the value as UTF-8. */
  caa?: { flags: number; tag: string; value: string };
}

/** The parts of a DNS response a TXT lookup looks at. */
export interface DnsResponse {
  /** RCODE (RFC 1035 §4.1.1): 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, … */
  rcode: number;
  /** TC: the message was truncated (should not happen over DoH, RFC 8484 §6). */
  truncated: boolean;
  /** The answer section. */
  answers: DnsAnswer[];
  /**
   * For a negative answer to cache: how long, in seconds, from the authority section's SOA — the
   * smaller of its TTL and its MINIMUM field (RFC 2308 §5). Absent without an SOA there (such an
   * answer is not to be cached) or when the section cannot be read.
   */
  negativeTtl?: number;
}

/** Options for {@link encodeDnsQuery}. */
export interface DnsQueryOptions {
  /** Set the CD (checking disabled) bit, so a validating resolver answers even when DNSSEC fails (RFC 4035 §3.2.2). */
  checkingDisabled?: boolean;
}

const MAX_NAME_OCTETS = 255; // RFC 1035 §2.3.4, wire form including length octets and the root label
const MAX_LABEL_OCTETS = 63;
/** Most compression pointers followed in one name; a legitimate name needs at most one per label. */
const MAX_POINTER_HOPS = 127;

/** Normalises a name for comparison: lower-case ASCII (RFC 4343), no trailing dot. */
export function normalizeDnsName(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

/**
 * A query with one question (`name`, `type`, class IN) and RD set. The ID is 0: RFC 8484 §4.1 asks DoH
 * clients to use 0 so identical queries are cacheable by HTTP caches.
 * Throws `EdgecertError("invalid_input")` for names that cannot be encoded (use A-labels for IDNs).
 */
export function encodeDnsQuery(name: string, type: number, options: DnsQueryOptions = {}): Bytes {
  const qname = encodeName(name);
  const out = new Uint8Array(12 + qname.length + 4);
  const view = new DataView(out.buffer);
  // RFC 1035 §4.1.1: ID 0; flags RD (0x0100), plus CD (0x0010, RFC 4035 §3.2.2) on request; QDCOUNT 1.
  view.setUint16(2, 0x0100 | (options.checkingDisabled ? 0x0010 : 0));
  view.setUint16(4, 1);
  out.set(qname, 12);
  view.setUint16(12 + qname.length, type);
  view.setUint16(12 + qname.length + 2, DNS_CLASS_IN);
  return out;
}

function encodeName(name: string): Uint8Array {
  const trimmed = name.replace(/\.$/, "");
  if (trimmed === "" || /[^\x21-\x7e]/.test(trimmed)) {
    throw new EdgecertError("invalid_input", `cannot query ${JSON.stringify(name)}: a DNS name must be non-empty printable ASCII (use A-labels)`);
  }
  const labels = trimmed.split(".");
  const bytes: number[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL_OCTETS) {
      throw new EdgecertError("invalid_input", `cannot query ${JSON.stringify(name)}: labels must have 1 to 63 octets`);
    }
    bytes.push(label.length);
    for (let i = 0; i < label.length; i++) bytes.push(label.charCodeAt(i));
  }
  bytes.push(0);
  if (bytes.length > MAX_NAME_OCTETS) {
    throw new EdgecertError("invalid_input", `cannot query ${JSON.stringify(name)}: longer than 255 octets`);
  }
  return Uint8Array.from(bytes);
}

function malformed(why: string): EdgecertError {
  return new EdgecertError("bad_response", `malformed DNS message: ${why}`);
}

/**
 * Parses a DNS response message (RFC 1035 §4.1): the header, the question section (skipped) and the
 * answer section. TXT and CNAME RDATA are decoded; other types keep only name, type and TTL. Of the
 * authority section only an SOA's negative-caching TTL is read; the additional section is not.
 */
export function parseDnsResponse(message: Uint8Array): DnsResponse {
  if (!(message instanceof Uint8Array)) throw malformed("not a byte array");
  const reader = new Reader(message);
  reader.need(12, "header");
  const flags = reader.u16(2);
  if ((flags & 0x8000) === 0) throw malformed("QR bit is 0 (a query, not a response)");
  const qdcount = reader.u16(4);
  const ancount = reader.u16(6);
  let offset = 12;
  for (let i = 0; i < qdcount; i++) {
    offset = reader.readName(offset).next;
    reader.need(offset + 4, "question");
    offset += 4; // QTYPE, QCLASS
  }
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < ancount; i++) {
    const owner = reader.readName(offset);
    offset = owner.next;
    reader.need(offset + 10, "resource record header");
    const type = reader.u16(offset);
    const ttl = reader.u32(offset + 4);
    const rdlength = reader.u16(offset + 8);
    const rdata = offset + 10;
    const end = rdata + rdlength;
    reader.need(end, "RDATA");
    const answer: DnsAnswer = { name: owner.name, type, ttl };
    if (type === DNS_TYPE_TXT) answer.text = readTxt(message, rdata, end);
    else if (type === DNS_TYPE_CAA) answer.caa = readCaa(message, rdata, end);
    else if (type === DNS_TYPE_CNAME) {
      const target = reader.readName(rdata);
      if (target.next > end) throw malformed("CNAME name overruns its RDATA");
      answer.target = target.name;
    }
    answers.push(answer);
    offset = end;
  }
  const negativeTtl = soaNegativeTtl(reader, offset, reader.u16(8));
  const response: DnsResponse = { rcode: flags & 0x000f, truncated: (flags & 0x0200) !== 0, answers };
  if (negativeTtl !== undefined) response.negativeTtl = negativeTtl;
  return response;
}

/**
 * The negative-caching TTL of the authority section starting at `offset` (RFC 2308 §5: min of the SOA
 * record's TTL and its MINIMUM, the last 32 bits of its RDATA, RFC 1035 §3.3.13). Read leniently: a
 * lookup needs only the answer section, so a section that cannot be read gives no TTL, not an error.
 */
function soaNegativeTtl(reader: Reader, offset: number, count: number): number | undefined {
  try {
    for (let i = 0; i < count; i++) {
      offset = reader.readName(offset).next;
      reader.need(offset + 10, "authority record header");
      const type = reader.u16(offset);
      const ttl = reader.u32(offset + 4);
      const end = offset + 10 + reader.u16(offset + 8);
      reader.need(end, "authority RDATA");
      // MNAME and RNAME (at least the root label each), then SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
      if (type === DNS_TYPE_SOA && end - (offset + 10) >= 22) return Math.min(ttl, reader.u32(end - 4));
      offset = end;
    }
  } catch (err) {
    if (!(err instanceof EdgecertError)) throw err;
  }
  return undefined;
}

const utf8 = new TextDecoder("utf-8"); // not fatal: odd bytes become U+FFFD, never an exception

/** TXT RDATA: one or more <character-string>s, each a length octet and that many octets (RFC 1035 §3.3.14). */
function readTxt(message: Uint8Array, start: number, end: number): string {
  if (start === end) throw malformed("empty TXT RDATA");
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let p = start; p < end; ) {
    const length = message[p]!;
    if (p + 1 + length > end) throw malformed("TXT character-string overruns its RDATA");
    parts.push(message.subarray(p + 1, p + 1 + length));
    total += length;
    p += 1 + length;
  }
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return utf8.decode(joined);
}

/** CAA RDATA: a flags octet, a tag length octet, the tag, and the value to the end (RFC 8659 §4.1). */
function readCaa(message: Uint8Array, start: number, end: number): { flags: number; tag: string; value: string } {
  if (end - start < 2) throw malformed("CAA RDATA shorter than its flags and tag length");
  const tagLength = message[start + 1]!;
  if (tagLength === 0 || start + 2 + tagLength > end) throw malformed("CAA tag overruns its RDATA");
  const tag = utf8.decode(message.subarray(start + 2, start + 2 + tagLength)).toLowerCase();
  return { flags: message[start]!, tag, value: utf8.decode(message.subarray(start + 2 + tagLength, end)) };
}

/** Bounds-checked access to a message. */
class Reader {
  constructor(private readonly bytes: Uint8Array) {}

  need(end: number, what: string): void {
    if (end > this.bytes.length) throw malformed(`truncated in the ${what}`);
  }

  u16(at: number): number {
    this.need(at + 2, "message");
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  u32(at: number): number {
    return this.u16(at) * 0x10000 + this.u16(at + 2);
  }

  /**
   * Reads a possibly compressed name (RFC 1035 §4.1.4). Every pointer must point before the start of the
   * stretch of labels being read, so offsets strictly decrease and a loop is impossible; hops and the
   * 255-octet limit are capped as well.
   */
  readName(start: number): { name: string; next: number } {
    const labels: string[] = [];
    let at = start;
    let segmentStart = start;
    let next: number | undefined;
    let octets = 1; // the root label
    for (let hops = 0; ; ) {
      this.need(at + 1, "name");
      const length = this.bytes[at]!;
      if (length === 0) {
        return { name: labels.join("."), next: next ?? at + 1 };
      }
      const kind = length & 0xc0;
      if (kind === 0xc0) {
        this.need(at + 2, "compression pointer");
        const target = ((length & 0x3f) << 8) | this.bytes[at + 1]!;
        if (target >= segmentStart) throw malformed("compression pointer does not point backwards");
        if (++hops > MAX_POINTER_HOPS) throw malformed("too many compression pointers");
        next ??= at + 2;
        at = target;
        segmentStart = target;
        continue;
      }
      if (kind !== 0) throw malformed(`unsupported label type 0x${kind.toString(16)}`);
      octets += 1 + length;
      if (octets > MAX_NAME_OCTETS) throw malformed("name longer than 255 octets");
      this.need(at + 1 + length, "label");
      labels.push(labelText(this.bytes, at + 1, at + 1 + length));
      at += 1 + length;
    }
  }
}

/** Presentation form of one label (RFC 1035 §5.1 escapes), lower-cased for comparison (RFC 4343). */
function labelText(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c) s += String.fromCharCode(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
    else s += `\\${b.toString().padStart(3, "0")}`;
  }
  return s;
}
