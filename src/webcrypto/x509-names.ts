/**
 * The names in certificates and CSRs, as DER: a subject Name holding a common name, a Name read back as
 * text, and the subjectAltName extension's DNS names and IP addresses (RFC 5280 §4.1.2.4, §4.2.1.6).
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { toBytes, toHex } from "./bytes.ts";
import { DER, decodeDerString, decodeOid, derSequence, encodeDer, encodeOid, latin1, readDerChildren, readDerWhole, type DerElement } from "./der.ts";
import { encodeExtension } from "./x509-extensions.ts";
import type { Bytes } from "./web-types.ts";

/** id-at-commonName (RFC 5280 Appendix A). */
export const OID_COMMON_NAME = "2.5.4.3";
/** id-ce-subjectAltName (RFC 5280 §4.2.1.6). */
export const OID_SUBJECT_ALT_NAME = "2.5.29.17";

/** GeneralName's CHOICE tags (RFC 5280 §4.2.1.6, IMPLICIT): [2] dNSName IA5String, [7] iPAddress. */
const DNS_NAME = 0x82;
const IP_ADDRESS = 0x87;

/** DER of a subject Name holding just a CN as a UTF8String (RFC 5280 §4.1.2.6), or an empty Name. */
export function commonNameSubject(commonName?: string): Bytes {
  if (!commonName) return derSequence();
  const value = encodeDer(DER.UTF8_STRING, toBytes(commonName));
  return derSequence(encodeDer(DER.SET, derSequence(encodeOid(OID_COMMON_NAME), value)));
}

/** One attribute of a distinguished name: its type's OID and its value as text. */
export interface NameAttribute {
  type: string;
  /** The string's text; a value of a non-string type is the lower-case hex of its whole DER element. */
  value: string;
}

/** The attributes of a Name (an RDNSequence of SETs of AttributeTypeAndValue), in order. */
export function readName(name: DerElement): NameAttribute[] {
  if (name.tag !== DER.SEQUENCE) throw malformed("a Name is not a SEQUENCE");
  const out: NameAttribute[] = [];
  for (const rdn of readDerChildren(name.value)) {
    if (rdn.tag !== DER.SET) throw malformed("a RelativeDistinguishedName is not a SET");
    for (const atv of readDerChildren(rdn.value)) {
      const [type, value, extra] = atv.tag === DER.SEQUENCE ? readDerChildren(atv.value) : [];
      if (type?.tag !== DER.OID || !value || extra) throw malformed("a malformed AttributeTypeAndValue");
      out.push({ type: decodeOid(type.value), value: decodeDerString(value) ?? toHex(encodeDer(value.tag, value.value)) });
    }
  }
  return out;
}

/** DER of a subjectAltName extension from DNS names and IP addresses (RFC 5280 §4.2.1.6). */
export function subjectAltNameExtension(names: string[], ipAddresses: string[], critical = false): Bytes {
  const generalNames = [
    ...names.map((name) => {
      // IA5String: ASCII only, so a name must already be in A-labels (RFC 5280 §7.2).
      if (!/^[\x20-\x7e]+$/.test(name)) throw new EdgecertError("invalid_identifier", `cannot encode subjectAltName: ${JSON.stringify(name)} is not an ASCII DNS name`);
      return encodeDer(DNS_NAME, Uint8Array.from(name, (c) => c.charCodeAt(0)));
    }),
    ...ipAddresses.map((ip) => encodeDer(IP_ADDRESS, ipAddressOctets(ip))),
  ];
  return encodeExtension(OID_SUBJECT_ALT_NAME, derSequence(...generalNames), critical);
}

/** The DNS names and IP addresses in a subjectAltName extension's value (other kinds of name are skipped). */
export function readSubjectAltNames(extnValue: Bytes): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const gn of readDerChildren(readDerWhole(extnValue, DER.SEQUENCE, "subjectAltName").value)) {
    if (gn.tag === DNS_NAME) dnsNames.push(latin1(gn.value));
    else if (gn.tag === IP_ADDRESS) ipAddresses.push(ipAddressText(gn.value));
  }
  return { dnsNames, ipAddresses };
}

/** The octets of an IP address: 4 for IPv4, 16 for IPv6 (RFC 5280 §4.2.1.6). */
function ipAddressOctets(text: string): Bytes {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    if (octets.every((o) => o <= 255)) return new Uint8Array(octets);
  } else if (/^[0-9a-fA-F:.]+$/.test(text) && text.includes(":")) {
    let canonical: string | undefined;
    try {
      // The URL parser reads every IPv6 text form (RFC 4291 §2.2, embedded IPv4 too) and prints RFC 5952's.
      canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      canonical = undefined;
    }
    if (canonical !== undefined) {
      const [head = "", tail] = canonical.split("::");
      const part = (s: string | undefined) => (s ? s.split(":") : []);
      const groups = [...part(head), ...Array<string>(8 - part(head).length - part(tail).length).fill("0"), ...part(tail)];
      return new Uint8Array(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
    }
  }
  throw new EdgecertError("invalid_identifier", `cannot encode subjectAltName: ${JSON.stringify(text)} is not an IP address`);
}

/** An iPAddress's text: dotted IPv4, or IPv6 in RFC 5952's canonical form. */
function ipAddressText(octets: Bytes): string {
  if (octets.length === 4) return octets.join(".");
  if (octets.length !== 16) throw malformed(`an iPAddress of ${octets.length} octets`);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((octets[i]! << 8) | octets[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}

const malformed = (why: string) => new EdgecertError("malformed_der", why);
