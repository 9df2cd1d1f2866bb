import { EdgecertError } from "../errors.ts";
import { toBytes } from "./bytes.ts";
import { DER, decodeOid, derSequence, encodeDer, encodeOid, readDerChildren, readDerWhole } from "./der.ts";
import { exportSpki } from "./keys.ts";
import { signX509 } from "./x509-signature.ts";
import { encodeExtension, readExtensions } from "./x509-extensions.ts";
import { OID_COMMON_NAME, OID_SUBJECT_ALT_NAME, commonNameSubject, readName, readSubjectAltNames, subjectAltNameExtension, type NameAttribute } from "./x509-names.ts";
import type { Bytes, CryptoKeyPair } from "./web-types.ts";

/** Options for {@link createCsr}. */
export interface CreateCsrOptions {
  /** The certificate key pair; the CSR is signed with its private key. */
  key: CryptoKeyPair;
  /** DNS names (A-labels, wildcards allowed). */
  names?: string[];
  /** IP addresses for RFC 8738 IP identifiers. */
  ipAddresses?: string[];
  /** Subject common name; defaults to the first DNS name when it fits (≤ 64 characters, RFC 5280 ub-common-name). */
  commonName?: string;
  /** Extra extensions to request (e.g. TLS Feature "must-staple"). */
  extensions?: CsrExtension[];
}

/** An X.509 extension to request in a CSR (RFC 5280 §4.1: `Extension`), by OID and DER value. */
export interface CsrExtension {
  /** The extension's OID, e.g. `"1.3.6.1.5.5.7.1.24"` for TLS Feature (RFC 7633). */
  oid: string;
  /** Whether the extension is critical. Default: false. */
  critical?: boolean;
  /** The DER encoding the extension's OCTET STRING wraps (`extnValue`). */
  value: Uint8Array;
}

/** PKCS#9 extensionRequest (RFC 2985 §5.4.2): the extensions a CSR asks the CA to put in the certificate. */
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";

/**
 * Creates a PKCS#10 certificate signing request (RFC 2986) with the names in a subjectAltName extension
 * request, as RFC 8555 §7.4 requires. Returns DER.
 */
export async function createCsr(options: CreateCsrOptions): Promise<Bytes> {
  const names = options.names ?? [];
  const ips = options.ipAddresses ?? [];
  if (names.length + ips.length === 0) {
    throw new EdgecertError("invalid_input", "a CSR needs at least one DNS name or IP address");
  }
  const cn = options.commonName ?? (names[0] !== undefined && names[0].length <= 64 ? names[0] : undefined);
  // RFC 5280 §4.2.1.6: the SAN is critical when the subject is empty.
  const san = subjectAltNameExtension(names, ips, !cn);
  const extra = (options.extensions ?? []).map((e) => encodeExtension(e.oid, toBytes(e.value), e.critical ?? false));
  const spki = new Uint8Array(await exportSpki(options.key.publicKey));
  // RFC 2986 §4.1: CertificationRequestInfo ::= SEQUENCE { version 0, subject, subjectPKInfo,
  // attributes [0] IMPLICIT SET OF Attribute }, one Attribute: extensionRequest with one Extensions value.
  const extensionRequest = derSequence(encodeOid(OID_EXTENSION_REQUEST), encodeDer(DER.SET, derSequence(san, ...extra)));
  const info = derSequence(encodeDer(DER.INTEGER, new Uint8Array([0])), commonNameSubject(cn), spki, encodeDer(0xa0, extensionRequest));
  return signX509(options.key.privateKey, info);
}

/** The names a CSR asks for: SAN DNS names and IP addresses, or the subject CN when there is no SAN. */
export function readCsrNames(der: Uint8Array): { dnsNames: string[]; ipAddresses: string[] } {
  let info: ReturnType<typeof readDerChildren>;
  let subject: NameAttribute[];
  try {
    // RFC 2986 §4.2: CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
    const [infoEl, algorithm, signature, extra] = readDerChildren(readDerWhole(toBytes(der), DER.SEQUENCE, "CertificationRequest").value);
    if (infoEl?.tag !== DER.SEQUENCE || algorithm?.tag !== DER.SEQUENCE || signature?.tag !== DER.BIT_STRING || extra) throw new Error("not SEQUENCE { info, algorithm, BIT STRING }");
    info = readDerChildren(infoEl.value);
    const [version, subjectEl, spki] = info;
    if (version?.tag !== DER.INTEGER || subjectEl?.tag !== DER.SEQUENCE || spki?.tag !== DER.SEQUENCE || (info[3] && info[3].tag !== 0xa0) || info.length > 4) {
      throw new Error("not SEQUENCE { version, subject, subjectPKInfo, [0] attributes }");
    }
    subject = readName(subjectEl);
  } catch (cause) {
    throw new EdgecertError("malformed_der", "not a DER PKCS#10 certificate request", { cause });
  }
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  try {
    for (const attr of info[3] ? readDerChildren(info[3].value) : []) {
      const [type, values] = attr.tag === DER.SEQUENCE ? readDerChildren(attr.value) : [];
      if (type?.tag !== DER.OID || values?.tag !== DER.SET) throw new EdgecertError("malformed_der", "a malformed Attribute");
      if (decodeOid(type.value) !== OID_EXTENSION_REQUEST) continue;
      for (const value of readDerChildren(values.value)) {
        for (const ext of readExtensions(value)) {
          if (ext.oid !== OID_SUBJECT_ALT_NAME) continue;
          const san = readSubjectAltNames(ext.value);
          dnsNames.push(...san.dnsNames);
          ipAddresses.push(...san.ipAddresses);
        }
      }
    }
  } catch (cause) {
    throw new EdgecertError("malformed_der", "the CSR has a malformed extension request", { cause });
  }
  if (dnsNames.length + ipAddresses.length === 0) {
    for (const atv of subject) if (atv.type === OID_COMMON_NAME) dnsNames.push(atv.value);
  }
  if (dnsNames.length + ipAddresses.length === 0) throw new EdgecertError("invalid_input", "the CSR names no identifier");
  return { dnsNames, ipAddresses };
}
