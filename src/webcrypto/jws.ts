import { EdgecertError } from "../errors.ts";
import { base64urlDecode, base64urlEncode } from "./base64url.ts";
import { toBytes, type BytesLike } from "./bytes.ts";
import { exportPublicJwk, type PublicJwk } from "./jwk.ts";
import { keyAlgorithmOf, signParams } from "./keys.ts";
import type { CryptoKey, CryptoKeyPair } from "./web-types.ts";

/** A JWS in flattened JSON serialization (RFC 7515 §7.2.2), the only form ACME accepts (RFC 8555 §6.2). */
export interface FlattenedJws {
  /** base64url of the protected header. */
  protected: string;
  /** base64url of the payload (empty for POST-as-GET). */
  payload: string;
  /** base64url of the signature. */
  signature: string;
}

/** Protected header fields of an ACME request (RFC 8555 §6.2). Exactly one of `kid` / `jwk`. */
export interface AcmeJwsHeader {
  /** The request URL (RFC 8555 §6.4). */
  url: string;
  /** The anti-replay nonce (RFC 8555 §6.5). */
  nonce?: string;
  /** The account URL, for requests by an account. */
  kid?: string;
  /** The public key, for newAccount and revocation by certificate key. */
  jwk?: PublicJwk;
}

/**
 * Signs `payload` as a flattened JWS with `alg` chosen from the key. `payload === undefined` produces
 * the empty payload of a POST-as-GET request (RFC 8555 §6.3). ECDSA signatures are the raw r||s form
 * that JWS requires (RFC 7518 §3.4) — which is what WebCrypto produces.
 */
export async function signJws(privateKey: CryptoKey, header: AcmeJwsHeader, payload?: unknown): Promise<FlattenedJws> {
  if ((header.kid === undefined) === (header.jwk === undefined)) {
    // RFC 8555 §6.2: "jwk" and "kid" fields are mutually exclusive, and one is required.
    throw new EdgecertError("invalid_input", "a JWS header needs exactly one of kid or jwk");
  }
  const alg = keyAlgorithmOf(privateKey);
  const protectedHeader: Record<string, unknown> = { alg };
  if (header.kid !== undefined) protectedHeader.kid = header.kid;
  else protectedHeader.jwk = header.jwk;
  if (header.nonce !== undefined) protectedHeader.nonce = header.nonce;
  protectedHeader.url = header.url;
  const protectedB64 = base64urlEncode(JSON.stringify(protectedHeader));
  const payloadB64 = payload === undefined ? "" : base64urlEncode(JSON.stringify(payload));
  const signingInput = new TextEncoder().encode(`${protectedB64}.${payloadB64}`);
  const signature = await crypto.subtle.sign(signParams(alg), privateKey, signingInput);
  return { protected: protectedB64, payload: payloadB64, signature: base64urlEncode(signature) };
}

/**
 * Verifies a flattened JWS with a public key (used by tests and by anyone checking what we send).
 * Returns the decoded protected header and payload when the signature is valid, otherwise `null`.
 */
export async function verifyJws(
  publicKey: CryptoKey,
  jws: FlattenedJws,
): Promise<{ header: Record<string, unknown>; payload: string } | null> {
  const alg = keyAlgorithmOf(publicKey);
  const input = new TextEncoder().encode(`${jws.protected}.${jws.payload}`);
  const ok = await crypto.subtle.verify(signParams(alg), publicKey, base64urlDecode(jws.signature), input);
  if (!ok) return null;
  const dec = new TextDecoder();
  return {
    header: JSON.parse(dec.decode(base64urlDecode(jws.protected))) as Record<string, unknown>,
    payload: dec.decode(base64urlDecode(jws.payload)),
  };
}

/** External Account Binding credentials issued by a CA (RFC 8555 §7.3.4). */
export interface ExternalAccountBinding {
  /** The key identifier the CA gave you. */
  kid: string;
  /** The MAC key the CA gave you: base64url text, or raw bytes. */
  hmacKey: string | BytesLike;
}

/**
 * Builds the `externalAccountBinding` member of a newAccount request: an HS256 JWS over the account's
 * public JWK with the CA-issued `kid` and the newAccount `url`, and no nonce (RFC 8555 §7.3.4).
 */
export async function createExternalAccountBinding(
  eab: ExternalAccountBinding,
  accountJwk: PublicJwk,
  url: string,
): Promise<FlattenedJws> {
  const raw = typeof eab.hmacKey === "string" ? base64urlDecode(eab.hmacKey) : toBytes(eab.hmacKey);
  if (raw.length === 0) throw new EdgecertError("invalid_input", "the EAB HMAC key is empty");
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const protectedB64 = base64urlEncode(JSON.stringify({ alg: "HS256", kid: eab.kid, url }));
  const payloadB64 = base64urlEncode(JSON.stringify(accountJwk));
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${protectedB64}.${payloadB64}`));
  return { protected: protectedB64, payload: payloadB64, signature: base64urlEncode(mac) };
}

/**
 * The inner JWS of an account key rollover (RFC 8555 §7.3.5): signed by the new key, `jwk` of the new
 * key, the keyChange `url`, no nonce, payload `{ account, oldKey }`.
 */
export async function createKeyChangeJws(
  newKey: CryptoKeyPair,
  accountUrl: string,
  oldKey: CryptoKey | PublicJwk,
  url: string,
): Promise<FlattenedJws> {
  const oldJwk = "kty" in oldKey ? oldKey : await exportPublicJwk(oldKey);
  const newJwk = await exportPublicJwk(newKey.publicKey);
  return signJws(newKey.privateKey, { url, jwk: newJwk }, { account: accountUrl, oldKey: oldJwk });
}
