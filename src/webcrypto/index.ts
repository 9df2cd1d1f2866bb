/**
 * WebCrypto building blocks: keys, PEM/DER, JWK thumbprints, JWS, CSRs, X.509 parsing and the
 * tls-alpn-01 certificate. SubtleCrypto only.
 * @module
 */
export { base64Decode, base64Encode, base64urlDecode, base64urlEncode } from "./base64url.ts";
export { concatBytes, toHex, type BytesLike } from "./bytes.ts";
export { createCsr, readCsrNames, type CreateCsrOptions, type CsrExtension } from "./csr.ts";
export { readDer, readDerChildren, type DerElement } from "./der.ts";
export { exportPublicJwk, jwkThumbprint, type PublicJwk } from "./jwk.ts";
export {
  createExternalAccountBinding,
  createKeyChangeJws,
  signJws,
  verifyJws,
  type AcmeJwsHeader,
  type ExternalAccountBinding,
  type FlattenedJws,
} from "./jws.ts";
export {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  importPublicKeyPem,
  keyAlgorithmOf,
  type GenerateKeyPairOptions,
  type KeyAlgorithmName,
  type RsaModulusLength,
} from "./keys.ts";
export { pemDecode, pemDecodeAll, pemEncode, splitPemChain, type PemBlock } from "./pem.ts";
export { formatSerial } from "./serial.ts";
export {
  ACME_IDENTIFIER_OID,
  ACME_TLS_ALPN_PROTOCOL,
  createTlsAlpn01Certificate,
  type TlsAlpn01Certificate,
  type TlsAlpn01CertificateOptions,
} from "./tls-alpn-certificate.ts";
export { certificateMatchesKey, parseCertificate, type CertificateInfo } from "./x509.ts";
export type { Bytes, CryptoKey, CryptoKeyPair, JsonWebKey, StructuralCryptoKey } from "./web-types.ts";
