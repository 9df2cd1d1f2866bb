/**
 * X.509 name builders shared by the CSR and the tls-alpn-01 certificate. Internal: their types are
 * `@peculiar/asn1-x509` classes, which our public declarations do not expose.
 * @module
 */
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AttributeTypeAndValue,
  AttributeValue,
  Extension,
  GeneralName,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { EdgecertError } from "../errors.ts";

/** id-at-commonName (RFC 5280 Appendix A). */
export const OID_COMMON_NAME = "2.5.4.3";

/** Builds a subject Name holding just a CN (or an empty Name). */
export function commonNameSubject(commonName?: string): Name {
  if (!commonName) return new Name([]);
  return new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: OID_COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) }),
    ]),
  ]);
}

/** Builds a subjectAltName extension from DNS names and IP addresses (RFC 5280 §4.2.1.6). */
export function subjectAltNameExtension(names: string[], ipAddresses: string[], critical = false): Extension {
  const generalNames = [
    ...names.map((dNSName) => new GeneralName({ dNSName })),
    ...ipAddresses.map((iPAddress) => new GeneralName({ iPAddress })),
  ];
  let value: ArrayBuffer;
  try {
    value = AsnConvert.serialize(new SubjectAlternativeName(generalNames));
  } catch (cause) {
    throw new EdgecertError("invalid_identifier", `cannot encode subjectAltName: ${String(cause)}`, { cause });
  }
  return new Extension({ extnID: id_ce_subjectAltName, critical, extnValue: new OctetString(value) });
}
