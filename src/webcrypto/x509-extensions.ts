/**
 * X.509 extensions as DER (RFC 5280 §4.1, §4.2): `Extension ::= SEQUENCE { extnID, critical BOOLEAN
 * DEFAULT FALSE, extnValue OCTET STRING }`, in certificates and in a CSR's extension request.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { DER, decodeOid, derSequence, encodeDer, encodeOid, readDerChildren, type DerElement } from "./der.ts";
import type { Bytes } from "./web-types.ts";

/** One extension: its OID, whether it is critical, and the DER its OCTET STRING wraps. */
export interface X509Extension {
  oid: string;
  critical: boolean;
  value: Bytes;
}

/** DER of one Extension; `critical` FALSE is the default, so DER leaves it out (X.690 §11.5). */
export function encodeExtension(oid: string, value: Bytes, critical = false): Bytes {
  return derSequence(encodeOid(oid), ...(critical ? [encodeDer(DER.BOOLEAN, new Uint8Array([0xff]))] : []), encodeDer(DER.OCTET_STRING, value));
}

/** The members of an `Extensions ::= SEQUENCE OF Extension`. */
export function readExtensions(extensions: DerElement): X509Extension[] {
  if (extensions.tag !== DER.SEQUENCE) throw malformed("Extensions is not a SEQUENCE");
  return readDerChildren(extensions.value).map((ext) => {
    const fields = ext.tag === DER.SEQUENCE ? readDerChildren(ext.value) : [];
    const [id, flag] = fields;
    const critical = flag?.tag === DER.BOOLEAN;
    const value = fields[critical ? 2 : 1];
    if (id?.tag !== DER.OID || value?.tag !== DER.OCTET_STRING || fields.length !== (critical ? 3 : 2)) throw malformed("a malformed Extension");
    if (critical && flag.value.length !== 1) throw malformed("a malformed Extension's critical flag");
    return { oid: decodeOid(id.value), critical: critical && flag.value[0] !== 0, value: value.value };
  });
}

const malformed = (why: string) => new EdgecertError("malformed_der", why);
