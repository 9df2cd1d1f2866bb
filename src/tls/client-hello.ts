import { ACME_TLS_ALPN_PROTOCOL } from "../webcrypto/tls-alpn-certificate.ts";

/** What a server needs from a TLS ClientHello before choosing a certificate. */
export interface ClientHelloInfo {
  /** The SNI host name (RFC 6066 §3), lower-cased; undefined when the client sent none. */
  serverName?: string;
  /** The ALPN protocols offered (RFC 7301 §3.1), in the client's order; empty when none. */
  alpnProtocols: string[];
}

/** Result of {@link parseClientHello} on the first bytes of a connection. */
export type ClientHelloParse =
  | { status: "ok"; hello: ClientHelloInfo }
  /** More bytes are needed. */
  | { status: "incomplete" }
  /** Not a TLS ClientHello (or a malformed one). */
  | { status: "invalid" };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
/** A ClientHello larger than this is not worth buffering to route a connection. */
const MAX_HELLO_BYTES = 64 * 1024;

/**
 * Reads SNI and ALPN from the start of a TLS connection (RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2), across
 * as many handshake records as the ClientHello spans. Used to route tls-alpn-01 handshakes before any
 * TLS library sees them: a server must pick the challenge certificate from the offered ALPN list
 * (RFC 8737 §3), and not every TLS stack tells the certificate callback what that list is.
 */
export function parseClientHello(bytes: Uint8Array): ClientHelloParse {
  // Reassemble the handshake message from consecutive handshake records.
  const fragments: Uint8Array[] = [];
  let handshakeLength = 0;
  let offset = 0;
  while (true) {
    if (bytes.length < offset + 5) return { status: "incomplete" };
    if (bytes[offset] !== RECORD_HANDSHAKE || bytes[offset + 1] !== 0x03) return { status: "invalid" };
    const recordLength = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
    if (recordLength === 0 || recordLength > 16_384 + 2048) return { status: "invalid" };
    if (bytes.length < offset + 5 + recordLength) return { status: "incomplete" };
    fragments.push(bytes.subarray(offset + 5, offset + 5 + recordLength));
    offset += 5 + recordLength;
    const total = fragments.reduce((n, f) => n + f.length, 0);
    if (total >= 4) {
      const head = fragments.length === 1 ? fragments[0]! : concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return { status: "invalid" };
      handshakeLength = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (handshakeLength > MAX_HELLO_BYTES) return { status: "invalid" };
      if (total >= 4 + handshakeLength) {
        const message = concat(fragments).subarray(4, 4 + handshakeLength);
        const hello = readClientHelloBody(message);
        return hello ? { status: "ok", hello } : { status: "invalid" };
      }
    }
  }
}

/** Whether a ClientHello is a tls-alpn-01 validation: it offers `acme-tls/1` and nothing else (RFC 8737 §3). */
export function isAcmeTlsAlpnHello(hello: ClientHelloInfo): boolean {
  return hello.alpnProtocols.length === 1 && hello.alpnProtocols[0] === ACME_TLS_ALPN_PROTOCOL;
}

function readClientHelloBody(body: Uint8Array): ClientHelloInfo | undefined {
  const r = new Reader(body);
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // legacy_session_id
  r.skip(r.u16()); // cipher_suites
  r.skip(r.u8()); // legacy_compression_methods
  const hello: ClientHelloInfo = { alpnProtocols: [] };
  if (r.failed) return undefined;
  if (r.remaining === 0) return hello; // no extensions (old clients)
  const extensions = r.sub(r.u16());
  while (!extensions.failed && extensions.remaining > 0) {
    const type = extensions.u16();
    const data = extensions.sub(extensions.u16());
    if (type === EXT_SERVER_NAME) {
      const list = data.sub(data.u16());
      while (!list.failed && list.remaining > 0) {
        const nameType = list.u8();
        const name = list.bytes(list.u16());
        // host_name(0) is the only type defined; the name is ASCII (RFC 6066 §3).
        if (nameType === 0 && name) hello.serverName = new TextDecoder().decode(name).toLowerCase();
      }
      if (list.failed) return undefined;
    } else if (type === EXT_ALPN) {
      const list = data.sub(data.u16());
      while (!list.failed && list.remaining > 0) {
        const name = list.bytes(list.u8());
        if (name) hello.alpnProtocols.push(new TextDecoder().decode(name));
      }
      if (list.failed) return undefined;
    }
  }
  return extensions.failed || r.failed ? undefined : hello;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A bounds-checked cursor: reading past the end marks it failed instead of throwing. */
class Reader {
  private at = 0;
  failed = false;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.failed ? 0 : this.buf.length - this.at;
  }

  private take(n: number): Uint8Array | undefined {
    if (this.failed || n < 0 || this.at + n > this.buf.length) {
      this.failed = true;
      return undefined;
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  skip(n: number): void {
    this.take(n);
  }

  u8(): number {
    return this.take(1)?.[0] ?? 0;
  }

  u16(): number {
    const b = this.take(2);
    return b ? (b[0]! << 8) | b[1]! : 0;
  }

  bytes(n: number): Uint8Array | undefined {
    return this.take(n);
  }

  sub(n: number): Reader {
    const b = this.take(n);
    const reader = new Reader(b ?? new Uint8Array(0));
    if (!b) reader.failed = true;
    return reader;
  }
}
