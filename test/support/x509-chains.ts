/**
 * Real X.509 certificates for chain tests: a certificate with any subject and issuer name, signed by
 * the issuer's key (ES256), so that chains like Let's Encrypt's cross-signed one can be built where
 * no test CA (Pebble) can issue them.
 * @module
 */
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Certificate, Extension, Extensions, GeneralName, SubjectAlternativeName, SubjectPublicKeyInfo, TBSCertificate, Validity, Version, id_ce_subjectAltName } from "@peculiar/asn1-x509";
import { generateKeyPair } from "../../src/webcrypto/keys.ts";
import { pemEncode } from "../../src/webcrypto/pem.ts";
import { commonNameSubject } from "../../src/webcrypto/x509-names.ts";
import { signForX509, x509SignatureAlgorithm } from "../../src/webcrypto/x509-signature.ts";

/** A named key pair that can be a subject and sign as an issuer. */
export interface Party {
  readonly name: string;
  readonly key: CryptoKeyPair;
}

/** A new ES256 key pair for certificates named `name`. */
export async function party(name: string): Promise<Party> {
  return { name, key: await generateKeyPair("ES256") };
}

let serial = 1;

/** What a test certificate says beyond its subject and issuer. */
export interface CertifyOptions {
  /** DNS names of a subjectAltName extension (none by default). */
  dnsNames?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Serial content octets (default: a counter). */
  serial?: Uint8Array;
}

/** PEM of a certificate for `subject`'s public key, named as `issuer` and signed with `issuer`'s key. */
export async function certify(subject: Party, issuer: Party, options: CertifyOptions = {}): Promise<string> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", subject.key.publicKey));
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: (options.serial ?? new Uint8Array([serial++ & 0x7f, 1])).slice().buffer,
    issuer: commonNameSubject(issuer.name),
    subject: commonNameSubject(subject.name),
    validity: new Validity({ notBefore: options.notBefore ?? new Date(Date.UTC(2025, 0, 1)), notAfter: options.notAfter ?? new Date(Date.UTC(2035, 0, 1)) }),
    subjectPublicKeyInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
  });
  if (options.dnsNames?.length) {
    const san = new SubjectAlternativeName(options.dnsNames.map((n) => new GeneralName({ dNSName: n })));
    tbs.extensions = new Extensions([new Extension({ extnID: id_ce_subjectAltName, critical: false, extnValue: new OctetString(AsnConvert.serialize(san)) })]);
  }
  tbs.signature = x509SignatureAlgorithm(issuer.key.privateKey);
  const { algorithm, signature } = await signForX509(issuer.key.privateKey, new Uint8Array(AsnConvert.serialize(tbs)));
  return pemEncode("CERTIFICATE", new Uint8Array(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: signature }))));
}
