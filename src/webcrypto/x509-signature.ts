import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { concatBytes, toArrayBuffer } from "./bytes.ts";
import { encodeDer, encodeUnsignedInteger } from "./der.ts";
import { keyAlgorithmOf, signParams, type KeyAlgorithmName } from "./keys.ts";
import type { Bytes, CryptoKey } from "./web-types.ts";

/** Signature AlgorithmIdentifiers for X.509 and PKCS#10 (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3). */
export function x509SignatureAlgorithm(privateKey: CryptoKey): AlgorithmIdentifier {
  const alg: KeyAlgorithmName = keyAlgorithmOf(privateKey);
  switch (alg) {
    case "ES256":
      return new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" });
    case "ES384":
      return new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.3" });
    case "RS256":
      // RFC 4055 §5: sha256WithRSAEncryption parameters MUST be NULL.
      return new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.11", parameters: null });
    case "EdDSA":
      return new AlgorithmIdentifier({ algorithm: "1.3.101.112" });
  }
}

/** Converts WebCrypto's raw r||s ECDSA signature into the DER Ecdsa-Sig-Value X.509 wants (RFC 5480 §2.2). */
export function ecdsaRawToDer(raw: Bytes): Bytes {
  const half = raw.length / 2;
  const r = encodeUnsignedInteger(raw.subarray(0, half));
  const s = encodeUnsignedInteger(raw.subarray(half));
  return encodeDer(0x30, concatBytes(r, s));
}

/** Signs DER `data` (a TBSCertificate or CertificationRequestInfo) the way X.509 encodes signatures. */
export async function signForX509(
  privateKey: CryptoKey,
  data: Bytes,
): Promise<{ algorithm: AlgorithmIdentifier; signature: ArrayBuffer }> {
  const alg = keyAlgorithmOf(privateKey);
  const raw = new Uint8Array(await crypto.subtle.sign(signParams(alg), privateKey, data));
  const signature = alg === "ES256" || alg === "ES384" ? toArrayBuffer(ecdsaRawToDer(raw)) : raw.buffer;
  return { algorithm: x509SignatureAlgorithm(privateKey), signature };
}
