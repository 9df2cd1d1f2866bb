import { base64urlEncode } from "../webcrypto/base64url.ts";
import { jwkThumbprint, type PublicJwk } from "../webcrypto/jwk.ts";
import {
  createTlsAlpn01Certificate,
  type TlsAlpn01Certificate,
} from "../webcrypto/tls-alpn-certificate.ts";
import type { AcmeIdentifier } from "./types.ts";
import type { CryptoKey, CryptoKeyPair } from "../webcrypto/web-types.ts";

/**
 * The key authorization for a challenge token: `token || '.' || thumbprint(accountKey)` (RFC 8555 §8.1).
 * Pass the thumbprint string when you have it, to skip recomputing it.
 */
export async function keyAuthorization(account: CryptoKey | PublicJwk | string, token: string): Promise<string> {
  const thumbprint = typeof account === "string" ? account : await jwkThumbprint(account);
  return `${token}.${thumbprint}`;
}

/** The path a server answers for an http-01 challenge (RFC 8555 §8.3). */
export function http01Path(token: string): string {
  return `/.well-known/acme-challenge/${token}`;
}

/** The TXT record name for a dns-01 challenge (RFC 8555 §8.4); wildcards validate at the base name. */
export function dns01RecordName(name: string): string {
  return `_acme-challenge.${name.replace(/^\*\./, "").replace(/\.$/, "")}`;
}

/** The TXT record value for a dns-01 challenge: base64url(SHA-256(key authorization)) (RFC 8555 §8.4). */
export async function dns01TxtValue(keyAuth: string): Promise<string> {
  return base64urlEncode(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keyAuth)));
}

/** The self-signed certificate to present for a tls-alpn-01 challenge (RFC 8737 §3). */
export function tlsAlpn01Certificate(
  identifier: AcmeIdentifier,
  keyAuth: string,
  keyPair?: CryptoKeyPair,
): Promise<TlsAlpn01Certificate> {
  return createTlsAlpn01Certificate(
    keyPair ? { identifier, keyAuthorization: keyAuth, keyPair } : { identifier, keyAuthorization: keyAuth },
  );
}

/**
 * The SNI name a validator sends for a tls-alpn-01 challenge: the DNS name itself, or for IP identifiers
 * the reverse-mapping name (RFC 8738 §6, RFC 1035 §3.5 / RFC 3596 §2.5).
 */
export function tlsAlpn01ServerName(identifier: AcmeIdentifier): string {
  if (identifier.type === "dns") return identifier.value;
  if (!identifier.value.includes(":")) return `${identifier.value.split(".").reverse().join(".")}.in-addr.arpa`;
  const canonical = new URL(`http://[${identifier.value}]/`).hostname.slice(1, -1);
  const [head = "", tail] = canonical.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const full = groups.map((g) => g.padStart(4, "0"));
  return `${full.join("").split("").reverse().join(".")}.ip6.arpa`;
}
