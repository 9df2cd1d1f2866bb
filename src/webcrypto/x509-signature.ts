import { concatBytes } from "./bytes.ts";
import { DER, derSequence, encodeDer, encodeOid, encodeUnsignedInteger } from "./der.ts";
import { keyAlgorithmOf, signParams, type KeyAlgorithmName } from "./keys.ts";
import type { Bytes, CryptoKey } from "./web-types.ts";

/** Signature AlgorithmIdentifier OIDs (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3). */
const SIGNATURE_OIDS: Record<KeyAlgorithmName, string> = {
  ES256: "1.2.840.10045.4.3.2",
  ES384: "1.2.840.10045.4.3.3",
  RS256: "1.2.840.113549.1.1.11",
  EdDSA: "1.3.101.112",
};

/** DER of the signature AlgorithmIdentifier for X.509 and PKCS#10 that `privateKey` signs with. */
export function x509SignatureAlgorithm(privateKey: CryptoKey): Bytes {
  const alg = keyAlgorithmOf(privateKey);
  // RFC 4055 §5: sha256WithRSAEncryption parameters MUST be NULL; ECDSA and Ed25519 have none.
  return derSequence(encodeOid(SIGNATURE_OIDS[alg]), ...(alg === "RS256" ? [encodeDer(DER.NULL, new Uint8Array(0))] : []));
}

/** Converts WebCrypto's raw r||s ECDSA signature into the DER Ecdsa-Sig-Value X.509 wants (RFC 5480 §2.2). */
function ecdsaRawToDer(raw: Bytes): Bytes {
  const half = raw.length / 2;
  const r = encodeUnsignedInteger(raw.subarray(0, half));
  const s = encodeUnsignedInteger(raw.subarray(half));
  return encodeDer(0x30, concatBytes(r, s));
}

/**
 * Signs DER `tbs` (a TBSCertificate or CertificationRequestInfo) and returns the signed structure:
 * `SEQUENCE { tbs, signatureAlgorithm, signature BIT STRING }` (RFC 5280 §4.1.1, RFC 2986 §4.2).
 */
export async function signX509(privateKey: CryptoKey, tbs: Bytes): Promise<Bytes> {
  const alg = keyAlgorithmOf(privateKey);
  const raw = new Uint8Array(await crypto.subtle.sign(signParams(alg), privateKey, tbs));
  const signature = alg === "ES256" || alg === "ES384" ? ecdsaRawToDer(raw) : raw;
  // A BIT STRING of whole octets: a leading 0 says no bits are unused (X.690 §8.6.2).
  return derSequence(tbs, x509SignatureAlgorithm(privateKey), encodeDer(DER.BIT_STRING, concatBytes(new Uint8Array(1), signature)));
}
