/**
 * End-to-end sealing of a certificate's private key from the hub (the Worker) to one agent, so that
 * nothing between them — TLS terminators, proxies, logs — can read it.
 *
 * Construction ("edgecert-seal-v1", ECDH-ES with HKDF and AES-GCM, WebCrypto only):
 * 1. The sender makes a fresh ephemeral P-256 key pair (epk) for every sealed box.
 * 2. `Z` = ECDH(epk private, agent public) — 32 bytes (SEC 1 §3.3.1, the x coordinate).
 * 3. `K` = HKDF-SHA256 (RFC 5869) with IKM `Z`, an empty salt and
 *    info = "edgecert-seal-v1" ‖ epk public (65-byte uncompressed point) ‖ agent public (65 bytes):
 *    256 bits. Both public keys in `info` bind the key to this pair (no key-compromise reuse across
 *    recipients).
 * 4. ciphertext = AES-256-GCM(K, iv = 12 random bytes, aad = caller's context, e.g. certificate id
 *    and serial), tag (16 bytes) appended, as WebCrypto returns it.
 * The box is `{ v: 1, alg, epk, iv, ct }` with epk/iv/ct base64url (RFC 4648 §5). `aad` is not in
 * the box: the opener supplies it from what it expects, so a key sealed for another certificate or
 * serial does not open.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { base64urlDecode, base64urlEncode } from "../webcrypto/base64url.ts";
import { concatBytes, toArrayBuffer, toBytes } from "../webcrypto/bytes.ts";
import { pemDecode, pemEncode } from "../webcrypto/pem.ts";
import type { Bytes, CryptoKey, CryptoKeyPair } from "../webcrypto/web-types.ts";

/** The algorithm name carried in every {@link SealedBox}. */
export const SEAL_ALG = "ECDH-ES+HKDF-SHA256+A256GCM";

const INFO_LABEL = toBytes("edgecert-seal-v1");
const ECDH = { name: "ECDH", namedCurve: "P-256" } as const;
// WebCrypto's member is `public` (W3C WebCrypto §22.3); workers-types spells it `$public`, so cast once.
const ecdhWith = (peer: CryptoKey) => ({ name: "ECDH", public: peer }) as unknown as Parameters<SubtleCrypto["deriveBits"]>[0];

/** A value sealed to one agent's P-256 public key (see the module comment for the construction). */
export interface SealedBox {
  /** Format version. */
  v: 1;
  /** Always {@link SEAL_ALG}. */
  alg: typeof SEAL_ALG;
  /** Ephemeral public key, uncompressed P-256 point, base64url. */
  epk: string;
  /** AES-GCM nonce, 12 bytes, base64url. */
  iv: string;
  /** Ciphertext with the 16-byte tag appended, base64url. */
  ct: string;
}

/** An agent key pair as the CLI keeps it: the private key as PKCS#8 PEM, the public one as SPKI PEM. */
export interface AgentKeyPair {
  /** PKCS#8 PEM: stays on the server, for `edgecert pull --agent-key`. */
  privateKeyPem: string;
  /** SPKI PEM: registered as `agentPublicKey` with the deploy token. */
  publicKeyPem: string;
}

/** Makes an agent key pair (P-256 ECDH). Register `publicKeyPem` with the deploy token; keep the private key on the server. */
export async function generateAgentKey(): Promise<AgentKeyPair> {
  const pair = (await crypto.subtle.generateKey(ECDH, true, ["deriveBits"])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer);
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  return { privateKeyPem: pemEncode("PRIVATE KEY", pkcs8), publicKeyPem: pemEncode("PUBLIC KEY", spki) };
}

/** Imports an agent public key (SPKI PEM, P-256); a typed `invalid_input` error for anything else. */
export async function importAgentPublicKey(pem: string): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey("spki", toArrayBuffer(pemDecode(pem, "PUBLIC KEY").der), ECDH, true, []);
  } catch (err) {
    throw new EdgecertError("invalid_input", "the agent public key must be a P-256 public key in SPKI PEM (openssl pkey -pubout)", { cause: err });
  }
}

async function importAgentPrivateKey(pem: string): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey("pkcs8", toArrayBuffer(pemDecode(pem, "PRIVATE KEY").der), ECDH, false, ["deriveBits"]);
  } catch (err) {
    throw new EdgecertError("invalid_input", "the agent key must be a P-256 private key in PKCS#8 PEM", { cause: err });
  }
}

async function rawPoint(key: CryptoKey): Promise<Bytes> {
  return new Uint8Array((await crypto.subtle.exportKey("raw", key)) as ArrayBuffer);
}

async function contentKey(shared: ArrayBuffer, epk: Bytes, recipient: Bytes, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: concatBytes(INFO_LABEL, epk, recipient) },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

/** Seals `plaintext` to `recipient` (an agent public key) with `aad` as the context it must be opened with. */
export async function sealToAgent(plaintext: string, recipient: CryptoKey, aad: string): Promise<SealedBox> {
  const eph = (await crypto.subtle.generateKey(ECDH, true, ["deriveBits"])) as CryptoKeyPair;
  const shared = await crypto.subtle.deriveBits(ecdhWith(recipient), eph.privateKey, 256);
  const epk = await rawPoint(eph.publicKey);
  const key = await contentKey(shared, epk, await rawPoint(recipient), "encrypt");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(aad) }, key, new TextEncoder().encode(plaintext));
  return { v: 1, alg: SEAL_ALG, epk: base64urlEncode(epk), iv: base64urlEncode(iv), ct: base64urlEncode(new Uint8Array(ct)) };
}

/**
 * Opens a {@link SealedBox} with the agent's private key and its public key, for the `aad` the
 * sender used. A box for another agent, another context or altered in transit fails with
 * `EdgecertError("invalid_input")` — never returns wrong plaintext.
 */
export async function openSealed(box: unknown, agent: { privateKey: CryptoKey; publicKey: CryptoKey }, aad: string): Promise<string> {
  const b = box as Partial<SealedBox> | null;
  if (!b || typeof b !== "object" || b.v !== 1 || b.alg !== SEAL_ALG || typeof b.epk !== "string" || typeof b.iv !== "string" || typeof b.ct !== "string") {
    throw new EdgecertError("invalid_input", `not an ${SEAL_ALG} sealed box (v1)`);
  }
  try {
    const epkBytes = base64urlDecode(b.epk);
    const epk = await crypto.subtle.importKey("raw", toArrayBuffer(epkBytes), ECDH, false, []);
    const shared = await crypto.subtle.deriveBits(ecdhWith(epk), agent.privateKey, 256);
    const key = await contentKey(shared, epkBytes, await rawPoint(agent.publicKey), "decrypt");
    const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: base64urlDecode(b.iv), additionalData: new TextEncoder().encode(aad) }, key, base64urlDecode(b.ct));
    return new TextDecoder().decode(pt);
  } catch (err) {
    throw new EdgecertError("invalid_input", "the sealed key does not open with this agent key (sealed for another agent, another certificate, or altered)", { cause: err });
  }
}

/**
 * The agent key pair {@link openSealed} takes, from the private key's PKCS#8 PEM: WebCrypto has no
 * "public key of this private key", so the public half is rebuilt from the JWK export (x, y).
 */
export async function agentKeyFromPem(privateKeyPem: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  const der = toArrayBuffer(pemDecode(privateKeyPem, "PRIVATE KEY").der);
  let jwk: JsonWebKey;
  try {
    jwk = (await crypto.subtle.exportKey("jwk", await crypto.subtle.importKey("pkcs8", der, ECDH, true, ["deriveBits"]))) as JsonWebKey;
  } catch (err) {
    throw new EdgecertError("invalid_input", "the agent key must be a P-256 private key in PKCS#8 PEM", { cause: err });
  }
  const publicKey = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, ECDH, true, []);
  return { privateKey: await importAgentPrivateKey(privateKeyPem), publicKey };
}
