/**
 * Real X.509 certificates for chain tests: a certificate with any subject and issuer name, signed by
 * the issuer's key (ES256), so that chains like Let's Encrypt's cross-signed one can be built where
 * no test CA (Pebble) can issue them.
 * @module
 */
import { generateKeyPair } from "../../src/webcrypto/keys.ts";
import { pemEncode } from "../../src/webcrypto/pem.ts";
import { buildCertificate } from "../../src/webcrypto/x509-certificate.ts";
import { commonNameSubject, subjectAltNameExtension } from "../../src/webcrypto/x509-names.ts";

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
  serial?: Uint8Array<ArrayBuffer>;
}

/** PEM of a certificate for `subject`'s public key, named as `issuer` and signed with `issuer`'s key. */
export async function certify(subject: Party, issuer: Party, options: CertifyOptions = {}): Promise<string> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", subject.key.publicKey));
  const der = await buildCertificate({
    serial: options.serial ?? new Uint8Array([serial++ & 0x7f, 1]),
    issuer: commonNameSubject(issuer.name),
    subject: commonNameSubject(subject.name),
    notBefore: options.notBefore ?? new Date(Date.UTC(2025, 0, 1)),
    notAfter: options.notAfter ?? new Date(Date.UTC(2035, 0, 1)),
    spki,
    extensions: options.dnsNames?.length ? [subjectAltNameExtension(options.dnsNames, [])] : [],
    signer: issuer.key.privateKey,
  });
  return pemEncode("CERTIFICATE", der);
}
