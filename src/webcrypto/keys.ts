import { EdgecertError } from "../errors.ts";
import { readDer, readDerChildren, decodeOid } from "./der.ts";
import { pemDecode, pemEncode } from "./pem.ts";
import type { Bytes, CryptoKey, CryptoKeyPair, JsonWebKey } from "./web-types.ts";

/**
 * Key types edgecert signs with, named by their JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1).
 * `EdDSA` means Ed25519 and needs a runtime whose WebCrypto has it.
 */
export type KeyAlgorithmName = "ES256" | "ES384" | "RS256" | "EdDSA";

/** RSA modulus sizes accepted for new keys. */
export type RsaModulusLength = 2048 | 3072 | 4096;

/** Options for {@link generateKeyPair}. */
export interface GenerateKeyPairOptions {
  /** RSA only; default 2048. */
  modulusLength?: RsaModulusLength;
  /** Whether the private key can be exported (needed to store it). Default true. */
  extractable?: boolean;
}

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_P256 = "1.2.840.10045.3.1.7";
const OID_P384 = "1.3.132.0.34";
const OID_RSA = "1.2.840.113549.1.1.1";
const OID_ED25519 = "1.3.101.112";

/** WebCrypto algorithm parameters, structurally (the DOM and Workers typings name them differently). */
interface CryptoParams {
  name: string;
  namedCurve?: string;
  hash?: string;
  modulusLength?: number;
  publicExponent?: Uint8Array;
}

function importParams(alg: KeyAlgorithmName): CryptoParams {
  switch (alg) {
    case "ES256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "ES384":
      return { name: "ECDSA", namedCurve: "P-384" };
    case "RS256":
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    case "EdDSA":
      return { name: "Ed25519" };
  }
}

/** WebCrypto parameters for signing with a key of this algorithm. */
export function signParams(alg: KeyAlgorithmName): CryptoParams {
  switch (alg) {
    case "ES256":
      return { name: "ECDSA", hash: "SHA-256" };
    case "ES384":
      return { name: "ECDSA", hash: "SHA-384" };
    case "RS256":
      return { name: "RSASSA-PKCS1-v1_5" };
    case "EdDSA":
      return { name: "Ed25519" };
  }
}

function unsupported(what: string, cause?: unknown): EdgecertError {
  return new EdgecertError("unsupported_key", what, { cause });
}

/**
 * Generates a signing key pair. ES256 (P-256) is the default: it is the cheapest to generate and sign
 * with on every runtime (RSA key generation costs tens to hundreds of milliseconds of CPU).
 */
export async function generateKeyPair(
  alg: KeyAlgorithmName = "ES256",
  options: GenerateKeyPairOptions = {},
): Promise<CryptoKeyPair> {
  const extractable = options.extractable ?? true;
  let params: CryptoParams;
  if (alg === "RS256") {
    const modulusLength = options.modulusLength ?? 2048;
    if (![2048, 3072, 4096].includes(modulusLength)) {
      throw unsupported(`RSA modulus length ${modulusLength} is not supported (use 2048, 3072 or 4096)`);
    }
    params = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength, publicExponent: new Uint8Array([1, 0, 1]) };
  } else if (alg === "ES256" || alg === "ES384" || alg === "EdDSA") {
    params = importParams(alg);
  } else {
    throw unsupported(`key algorithm ${String(alg)} is not supported`);
  }
  try {
    return (await crypto.subtle.generateKey(params, extractable, ["sign", "verify"])) as CryptoKeyPair;
  } catch (cause) {
    throw unsupported(`this runtime cannot generate ${alg} keys`, cause);
  }
}

/** The JWS algorithm for a WebCrypto key; throws `unsupported_key` for anything else. */
export function keyAlgorithmOf(key: CryptoKey): KeyAlgorithmName {
  const a = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } };
  if (a.name === "ECDSA" && a.namedCurve === "P-256") return "ES256";
  if (a.name === "ECDSA" && a.namedCurve === "P-384") return "ES384";
  if (a.name === "RSASSA-PKCS1-v1_5" && a.hash?.name === "SHA-256") return "RS256";
  if (a.name === "Ed25519") return "EdDSA";
  throw unsupported(`unsupported key: ${a.name}${a.namedCurve ? " " + a.namedCurve : ""}`);
}

/** Exports a private key as PKCS#8 PEM (RFC 5208, RFC 7468 §10). The key must be extractable. */
export async function exportPrivateKeyPem(privateKey: CryptoKey): Promise<string> {
  if (privateKey.type !== "private") throw new EdgecertError("invalid_input", "expected a private key");
  keyAlgorithmOf(privateKey);
  try {
    return pemEncode("PRIVATE KEY", await exportPkcs8(privateKey));
  } catch (cause) {
    throw new EdgecertError("invalid_input", "the private key is not extractable", { cause });
  }
}

/** Exports a public key as SPKI PEM (RFC 5280 §4.1.2.7, RFC 7468 §13). */
export async function exportPublicKeyPem(publicKey: CryptoKey): Promise<string> {
  return pemEncode("PUBLIC KEY", await exportSpki(publicKey));
}

/** SPKI DER of a public key. */
export async function exportSpki(key: CryptoKey): Promise<ArrayBuffer> {
  return (await crypto.subtle.exportKey("spki", key)) as ArrayBuffer;
}

/** PKCS#8 DER of a private key. */
export async function exportPkcs8(key: CryptoKey): Promise<ArrayBuffer> {
  return (await crypto.subtle.exportKey("pkcs8", key)) as ArrayBuffer;
}

/** JWK of a key (typed for both the DOM and the Workers typings). */
export async function exportJwk(key: CryptoKey): Promise<JsonWebKey> {
  return (await crypto.subtle.exportKey("jwk", key)) as JsonWebKey;
}

/** Finds the key algorithm of a PKCS#8 PrivateKeyInfo or SPKI from its AlgorithmIdentifier. */
function algorithmOfKeyDer(der: Bytes, kind: "pkcs8" | "spki"): KeyAlgorithmName {
  const outer = readDer(der);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new EdgecertError("malformed_der", "key is not a DER SEQUENCE");
  const fields = readDerChildren(outer.value);
  const algId = fields[kind === "pkcs8" ? 1 : 0];
  if (!algId || algId.tag !== 0x30) throw new EdgecertError("malformed_der", "key has no AlgorithmIdentifier");
  const [oidEl, paramEl] = readDerChildren(algId.value);
  if (!oidEl || oidEl.tag !== 0x06) throw new EdgecertError("malformed_der", "key AlgorithmIdentifier has no OID");
  const oid = decodeOid(oidEl.value);
  if (oid === OID_RSA) return "RS256";
  if (oid === OID_ED25519) return "EdDSA";
  if (oid === OID_EC_PUBLIC_KEY && paramEl?.tag === 0x06) {
    const curve = decodeOid(paramEl.value);
    if (curve === OID_P256) return "ES256";
    if (curve === OID_P384) return "ES384";
    throw unsupported(`unsupported EC curve ${curve}`);
  }
  throw unsupported(`unsupported key algorithm ${oid}`);
}

/**
 * Imports a PKCS#8 private key PEM (`PRIVATE KEY`) and derives its public key.
 * Legacy `EC PRIVATE KEY` / `RSA PRIVATE KEY` blocks are rejected with a message saying how to convert.
 */
export async function importPrivateKeyPem(pem: string, options: { extractable?: boolean } = {}): Promise<CryptoKeyPair> {
  const blocks = pemDecode(pem, "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY");
  if (blocks.label !== "PRIVATE KEY") {
    throw unsupported(`${blocks.label} (SEC1/PKCS#1) is not supported; convert it to PKCS#8 ("openssl pkcs8 -topk8 -nocrypt")`);
  }
  const alg = algorithmOfKeyDer(blocks.der, "pkcs8");
  const params = importParams(alg);
  let privateKey: CryptoKey;
  try {
    // Imported extractable once so the public half can be derived from the private JWK.
    privateKey = await crypto.subtle.importKey("pkcs8", blocks.der, params, true, ["sign"]);
  } catch (cause) {
    throw new EdgecertError("malformed_der", `invalid ${alg} private key`, { cause });
  }
  const jwk = await exportJwk(privateKey);
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, ...publicJwk } = jwk;
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, params, true, ["verify"]);
  if (options.extractable === false) {
    privateKey = await crypto.subtle.importKey("pkcs8", blocks.der, params, false, ["sign"]);
  }
  return { privateKey, publicKey };
}

/** Imports an SPKI public key PEM (`PUBLIC KEY`). */
export async function importPublicKeyPem(pem: string): Promise<CryptoKey> {
  const { der } = pemDecode(pem, "PUBLIC KEY");
  const alg = algorithmOfKeyDer(der, "spki");
  try {
    return await crypto.subtle.importKey("spki", der, importParams(alg), true, ["verify"]);
  } catch (cause) {
    throw new EdgecertError("malformed_der", `invalid ${alg} public key`, { cause });
  }
}
