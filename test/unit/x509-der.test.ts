/**
 * The X.509 / PKCS#10 DER code in src/webcrypto against an independent reader: the `@peculiar/asn1-*`
 * schema packages (a dev dependency since edgecert reads and writes these structures itself, issue 24:
 * they were 31.5 KB of the Worker's gzip bundle). Certificates and CSRs from openssl in every string type
 * and name form it writes, and from our own builders, are read by both and must agree field by field; what
 * we build must be DER the schema packages re-encode to the same bytes; and seeded mutations of all of them
 * must give either the same fields as the reference or a typed `malformed_der`, never another exception.
 *
 * EDGECERT_DER_FUZZ_RUNS (default 3000) mutants per run, EDGECERT_DER_FUZZ_SEED to replay one run.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  Attribute,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  Certificate,
  Extension,
  Extensions,
  GeneralName,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  id_ce_authorityKeyIdentifier,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { Attributes, CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { OctetString } from "@peculiar/asn1-schema";
import { beforeAll, describe, expect, it } from "vitest";
import { EdgecertError } from "../../src/errors.ts";
import { toHex } from "../../src/webcrypto/bytes.ts";
import { createCsr, readCsrNames } from "../../src/webcrypto/csr.ts";
import { decodeDerString, decodeDerTime, decodeOid, derSequence, encodeDer, encodeDerTime, encodeOid, readDer, readDerChildren } from "../../src/webcrypto/der.ts";
import { generateKeyPair, type KeyAlgorithmName } from "../../src/webcrypto/keys.ts";
import { pemDecode } from "../../src/webcrypto/pem.ts";
import { createTlsAlpn01Certificate } from "../../src/webcrypto/tls-alpn-certificate.ts";
import { parseCertificate, type CertificateInfo } from "../../src/webcrypto/x509.ts";
import { buildCertificate } from "../../src/webcrypto/x509-certificate.ts";
import { certify, party } from "../support/x509-chains.ts";
import { openssl } from "../support/openssl.ts";
import { seededRandom } from "../support/seeded-random.ts";

const RUNS = Number(process.env.EDGECERT_DER_FUZZ_RUNS ?? 3000);
const SEED = Number(process.env.EDGECERT_DER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

// ---------------------------------------------------------------- the reference reader

const SHORT_NAMES: Record<string, string> = { "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber" };

function referenceName(name: Name): { text: string; commonName?: string } {
  let commonName: string | undefined;
  const parts: string[] = [];
  for (const rdn of name) {
    for (const atv of rdn) {
      const value = atv.value.toString();
      if (atv.type === "2.5.4.3" && commonName === undefined) commonName = value;
      parts.push(`${SHORT_NAMES[atv.type] ?? atv.type}=${value}`);
    }
  }
  return commonName === undefined ? { text: parts.join(", ") } : { text: parts.join(", "), commonName };
}

/** What parseCertificate reports, read by the schema packages. */
function referenceParse(der: Uint8Array): Omit<CertificateInfo, "der" | "serialBytes" | "authorityKeyIdentifierBytes"> {
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  let aki: string | undefined;
  for (const ext of tbs.extensions ?? []) {
    if (ext.extnID === id_ce_subjectAltName) {
      for (const gn of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
        if (gn.dNSName !== undefined) dnsNames.push(gn.dNSName);
        if (gn.iPAddress !== undefined) ipAddresses.push(gn.iPAddress);
      }
    } else if (ext.extnID === id_ce_authorityKeyIdentifier) {
      const parsed = AsnConvert.parse(ext.extnValue, AuthorityKeyIdentifier);
      if (parsed.keyIdentifier) aki = toHex(new Uint8Array(parsed.keyIdentifier.buffer));
    }
  }
  const issuer = referenceName(tbs.issuer);
  const subject = referenceName(tbs.subject);
  return {
    serialNumber: toHex(new Uint8Array(tbs.serialNumber)),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    dnsNames,
    ipAddresses,
    issuer: issuer.text,
    subject: subject.text,
    ...(issuer.commonName !== undefined ? { issuerCommonName: issuer.commonName } : {}),
    ...(subject.commonName !== undefined ? { subjectCommonName: subject.commonName } : {}),
    ...(aki !== undefined ? { authorityKeyIdentifier: aki } : {}),
    spki: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
  };
}

/** What readCsrNames reports, read by the schema packages. */
function referenceCsrNames(der: Uint8Array): { dnsNames: string[]; ipAddresses: string[] } {
  const csr = AsnConvert.parse(der, CertificationRequest);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const attr of csr.certificationRequestInfo.attributes ?? []) {
    if (attr.type !== "1.2.840.113549.1.9.14") continue;
    for (const value of attr.values) {
      for (const ext of AsnConvert.parse(value, Extensions)) {
        if (ext.extnID !== id_ce_subjectAltName) continue;
        for (const gn of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
          if (gn.dNSName !== undefined) dnsNames.push(gn.dNSName);
          if (gn.iPAddress !== undefined) ipAddresses.push(gn.iPAddress);
        }
      }
    }
  }
  referenceCsrNames.fromSubject = dnsNames.length + ipAddresses.length === 0;
  if (referenceCsrNames.fromSubject) {
    for (const rdn of csr.certificationRequestInfo.subject) for (const atv of rdn) if (atv.type === "2.5.4.3") dnsNames.push(atv.value.toString());
  }
  return { dnsNames, ipAddresses };
}
/** Whether the last referenceCsrNames() call read the names from the subject's CN. */
referenceCsrNames.fromSubject = false;

/** The fields of ours that the reference also reports, in the same shape. */
function comparable(info: CertificateInfo): ReturnType<typeof referenceParse> {
  const { der: _der, serialBytes: _s, authorityKeyIdentifierBytes: _a, ...rest } = info;
  return rest;
}

// ---------------------------------------------------------------- the corpus

const der = (pem: string) => pemDecode(pem, "CERTIFICATE").der;

/** openssl's configuration for `req`: string_mask decides which string type each attribute gets. */
const reqConfig = (mask: string) => `[req]\ndistinguished_name=dn\nstring_mask=${mask}\nutf8=yes\n[dn]\n`;

async function opensslKey(alg: "EC" | "RSA" | "ED25519"): Promise<string> {
  const opts = alg === "EC" ? ["-pkeyopt", "ec_paramgen_curve:P-384"] : alg === "RSA" ? ["-pkeyopt", "rsa_keygen_bits:2048"] : [];
  return openssl(["genpkey", "-algorithm", alg, ...opts]);
}

let certificates: { label: string; der: Uint8Array }[] = [];
let csrs: { label: string; der: Uint8Array }[] = [];

beforeAll(async () => {
  const [ec, rsa, ed] = await Promise.all([opensslKey("EC"), opensslKey("RSA"), opensslKey("ED25519")]);
  // Subjects in each string type openssl writes: UTF8String (utf8only), PrintableString / T61String /
  // BMPString (default), IA5String (emailAddress), multi-valued RDNs, and a non-string value (an OID).
  const variants: { label: string; key: string; mask: string; subj: string; ext: string[]; days?: string; serial?: string }[] = [
    { label: "EC utf8only", key: ec, mask: "utf8only", subj: "/C=DE/ST=Bayern/O=Édge Ünïcode/OU=日本/CN=root.test", ext: ["subjectAltName=DNS:a.test,DNS:*.b.test,IP:10.0.0.1,IP:2001:db8::1,IP:::ffff:1.2.3.4,email:x@y.test,URI:https://u.test/", "authorityKeyIdentifier=keyid:always"] },
    { label: "RSA default mask", key: rsa, mask: "default", subj: "/C=US/O=Latin é T61/OU=日本 BMP/CN=Printable CN/emailAddress=a@b.test/serialNumber=1234", ext: ["subjectAltName=IP:::,IP:1::,IP:fe80::1:0:0:1,DNS:x.test", "authorityKeyIdentifier=keyid,issuer:always"], days: "20000" },
    { label: "Ed25519 pkix multi-valued", key: ed, mask: "pkix", subj: "/CN=a+O=b/OU=c+OU=d", ext: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"], serial: "0x00ff01" },
    { label: "EC no extensions, v1-like", key: ec, mask: "nombstr", subj: "/CN=bare", ext: [], serial: "0x7f" },
  ];
  const made = await Promise.all(
    variants.map(async (v) => {
      const args = ["req", "-x509", "-config", "{dir}/req.cnf", "-key", "{dir}/k.pem", "-subj", v.subj, "-multivalue-rdn", "-days", v.days ?? "3", "-set_serial", v.serial ?? "0x0102030405", ...v.ext.flatMap((e) => ["-addext", e])];
      const cert = await openssl(args, { "k.pem": v.key, "req.cnf": reqConfig(v.mask) });
      const csr = await openssl(["req", "-new", "-config", "{dir}/req.cnf", "-key", "{dir}/k.pem", "-subj", v.subj, "-multivalue-rdn", ...v.ext.filter((e) => e.startsWith("subjectAltName")).flatMap((e) => ["-addext", e])], { "k.pem": v.key, "req.cnf": reqConfig(v.mask) });
      return { label: v.label, cert: der(cert), csr: pemDecode(csr, "CERTIFICATE REQUEST").der };
    }),
  );
  const root = await party("chain root");
  const leaf = await party("chain leaf");
  // A Name openssl's -subj cannot write: a UniversalString (UTF-32) CN, a BIT STRING value, an IA5String.
  const oddName = derSequence(
    ...[
      derSequence(encodeOid("2.5.4.3"), encodeDer(0x1c, new Uint8Array([..."Üniversal"].flatMap((c) => [0, 0, 0, c.charCodeAt(0)])))),
      derSequence(encodeOid("2.5.4.45"), encodeDer(0x03, new Uint8Array([0x00, 0xff]))),
      derSequence(encodeOid("2.5.4.3"), encodeDer(0x16, new TextEncoder().encode("ia5"))),
    ].map((atv) => encodeDer(0x31, atv)),
  );
  const odd = await buildCertificate({ serial: new Uint8Array([0x00, 0x80]), issuer: oddName, subject: oddName, notBefore: new Date(0), notAfter: new Date(Date.UTC(2049, 11, 31, 23, 59, 59)), spki: new Uint8Array(await crypto.subtle.exportKey("spki", root.key.publicKey)), signer: root.key.privateKey });
  const alpnDns = await createTlsAlpn01Certificate({ identifier: { type: "dns", value: "alpn.test" }, keyAuthorization: "t.k" });
  const alpnIp = await createTlsAlpn01Certificate({ identifier: { type: "ip", value: "2001:db8:0:0:1::1" }, keyAuthorization: "t.k" });
  const ourCsrs = await Promise.all(
    (["ES256", "ES384", "RS256", "EdDSA"] as KeyAlgorithmName[]).map(async (alg) => ({
      label: `createCsr ${alg}`,
      der: await createCsr({ key: await generateKeyPair(alg), names: ["c.test", "*.c.test"], ipAddresses: ["192.0.2.1", "::1"], extensions: [{ oid: "1.3.6.1.5.5.7.1.24", value: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]) }] }),
    })),
  );
  certificates = [
    ...made.map((m) => ({ label: `openssl ${m.label}`, der: m.cert })),
    { label: "x509-chains, notAfter 2060 (GeneralizedTime)", der: der(await certify(leaf, root, { dnsNames: ["l.test"], notAfter: new Date(Date.UTC(2060, 5, 1)), notBefore: new Date(Date.UTC(1960, 0, 1)) })) },
    { label: "buildCertificate, odd names", der: odd },
    { label: "tls-alpn-01 dns", der: alpnDns.certificateDer },
    { label: "tls-alpn-01 ip", der: alpnIp.certificateDer },
  ];
  csrs = [...made.map((m) => ({ label: `openssl ${m.label}`, der: m.csr })), ...ourCsrs, { label: "createCsr CN only, critical SAN", der: await createCsr({ key: await generateKeyPair("ES256"), names: ["x".repeat(63) + "." + "y".repeat(10) + ".test"] }) }];
}, 60_000);

// ---------------------------------------------------------------- tests

describe("X.509 DER against the schema packages", () => {
  it("reads every certificate of the corpus as the reference does, field by field", () => {
    for (const c of certificates) expect(comparable(parseCertificate(c.der)), c.label).toEqual(referenceParse(c.der));
    // The corpus has what it claims: every string type and name form, both time types.
    const all = certificates.map((c) => parseCertificate(c.der));
    expect(all.map((i) => i.subject)).toContain("C=US, O=Latin é T61, OU=日本 BMP, CN=Printable CN, 1.2.840.113549.1.9.1=a@b.test, serialNumber=1234");
    expect(all.map((i) => i.subject)).toContain("CN=a, O=b, OU=c, OU=d");
    expect(all.map((i) => i.subject)).toContain("CN=Üniversal, 2.5.4.45=030200ff, CN=ia5");
    expect(all.flatMap((i) => i.ipAddresses)).toEqual(expect.arrayContaining(["10.0.0.1", "2001:db8::1", "::ffff:102:304", "::", "1::", "fe80::1:0:0:1", "2001:db8::1:0:0:1"]));
    expect(all.some((i) => i.notAfter.getUTCFullYear() >= 2050) && all.some((i) => i.notBefore.getUTCFullYear() < 1970)).toBe(true);
  });

  it("reads every CSR of the corpus as the reference does", () => {
    for (const c of csrs) expect(readCsrNames(c.der), c.label).toEqual(referenceCsrNames(c.der));
  });

  it("writes DER the schema packages re-encode to the same bytes: certificates, and a CSR's request info as they would build it", async () => {
    for (const c of certificates.filter((c) => !c.label.startsWith("openssl"))) {
      expect(toHex(new Uint8Array(AsnConvert.serialize(AsnConvert.parse(c.der, Certificate)))), c.label).toBe(toHex(c.der));
    }
    for (const c of csrs.filter((c) => c.label.startsWith("createCsr"))) {
      expect(toHex(new Uint8Array(AsnConvert.serialize(AsnConvert.parse(c.der, CertificationRequest)))), c.label).toBe(toHex(c.der));
    }
    // The request info, as the schema packages built it before issue 24, byte for byte.
    const key = await generateKeyPair("ES256");
    const ours = await createCsr({ key, names: ["a.test", "b.test"], ipAddresses: ["10.1.2.3", "2001:db8::7"], extensions: [{ oid: "1.3.6.1.5.5.7.1.24", critical: true, value: new Uint8Array([0x30, 0x00]) }] });
    const san = new SubjectAlternativeName([new GeneralName({ dNSName: "a.test" }), new GeneralName({ dNSName: "b.test" }), new GeneralName({ iPAddress: "10.1.2.3" }), new GeneralName({ iPAddress: "2001:db8::7" })]);
    const extensions = new Extensions([
      new Extension({ extnID: id_ce_subjectAltName, critical: false, extnValue: new OctetString(AsnConvert.serialize(san)) }),
      new Extension({ extnID: "1.3.6.1.5.5.7.1.24", critical: true, extnValue: new OctetString(new Uint8Array([0x30, 0x00])) }),
    ]);
    const info = new CertificationRequestInfo({
      version: 0,
      subject: new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: "2.5.4.3", value: new AttributeValue({ utf8String: "a.test" }) })])]),
      subjectPKInfo: AsnConvert.parse(await crypto.subtle.exportKey("spki", key.publicKey), SubjectPublicKeyInfo),
      attributes: new Attributes([new Attribute({ type: "1.2.840.113549.1.9.14", values: [AsnConvert.serialize(extensions)] })]),
    });
    const ourInfo = readDerChildren(readDer(ours).value)[0]!;
    expect(toHex(encodeDer(ourInfo.tag, ourInfo.value))).toBe(toHex(new Uint8Array(AsnConvert.serialize(info))));
  });

  it(`seeded mutations (${RUNS}, seed ${SEED}): the reference's fields or a typed malformed_der, never another exception`, () => {
    const random = seededRandom(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const tally = { agreed: 0, bothRefused: 0, oursOnlyRefused: 0, referenceOnlyRefused: 0, csrAgreed: 0, csrRefused: 0 };
    for (let run = 0; run < RUNS; run++) {
      const isCsr = run % 4 === 3;
      const source = pick(isCsr ? csrs : certificates);
      const bytes = mutate(source.der, random);
      // The corpus has fresh keys each run, so the mutant itself is printed: a failure names its bytes.
      const replay = `seed ${SEED}, run ${run}, a mutant of ${source.label}: ${toHex(bytes)}`;
      const ours = typed(() => (isCsr ? readCsrNames(bytes) : comparable(parseCertificate(bytes))), replay);
      let reference: unknown;
      try {
        reference = isCsr ? referenceCsrNames(bytes) : referenceParse(bytes);
      } catch {
        reference = undefined;
      }
      if (isCsr) {
        if (ours === undefined) tally.csrRefused++;
        else if (reference !== undefined) {
          // Names read from the subject's CN are name text, compared on the corpus only (see below).
          const fromSubject = (reference as { ipAddresses: string[] }).ipAddresses.length === 0 && referenceCsrNames.fromSubject;
          expect(fromSubject ? { ...(ours as object), dnsNames: "CN" } : ours, replay).toEqual(fromSubject ? { ...(reference as object), dnsNames: "CN" } : reference);
          tally.csrAgreed++;
        }
        continue;
      }
      if (ours === undefined) tally[reference === undefined ? "bothRefused" : "oursOnlyRefused"]++;
      else if (reference === undefined) tally.referenceOnlyRefused++;
      else {
        // The name text is left out: a mutated tag can turn a PrintableString into a VisibleString, which
        // we read as text and the reference as hex. Names are compared on the corpus above.
        // And the SPKI is compared as the reference re-encodes it: we keep its bytes as they stand in the
        // certificate (what a key match compares), the reference writes back what it read.
        const strip = ({ issuer: _i, subject: _s, issuerCommonName: _ic, subjectCommonName: _sc, spki, ...rest }: Record<string, unknown>): Record<string, unknown> => ({
          ...rest,
          spki: toHex(new Uint8Array(AsnConvert.serialize(AsnConvert.parse(spki as Uint8Array, SubjectPublicKeyInfo)))),
        });
        const a = strip(ours as Record<string, unknown>);
        const b = strip(reference as Record<string, unknown>);
        // GeneralizedTime years 0–99: the reference reads them as 1900–1999 (Date.UTC's rule), we as written.
        for (const k of ["notBefore", "notAfter"]) if ((a[k] as Date).getUTCFullYear() < 100) a[k] = b[k] = "a year below 100";
        expect(a, replay).toEqual(b);
        tally.agreed++;
      }
    }
    console.log(`DER fuzz: ${RUNS} mutants of ${certificates.length} certificates and ${csrs.length} CSRs, seed ${SEED}: ${JSON.stringify(tally)}`);
    // The search reached both sides: mutants both readers accept, and mutants refused.
    expect(tally.agreed).toBeGreaterThan(RUNS / 20);
    expect(tally.bothRefused + tally.oursOnlyRefused).toBeGreaterThan(RUNS / 20);
  });
});

describe("DER primitives", () => {
  const el = (tag: number, bytes: number[] | string) => readDer(encodeDer(tag, typeof bytes === "string" ? new TextEncoder().encode(bytes) : new Uint8Array(bytes)));
  it("times: RFC 5280's UTCTime window and GeneralizedTime, a fraction, and no rolled-over dates", () => {
    expect(decodeDerTime(el(0x17, "491231235959Z")).toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(decodeDerTime(el(0x17, "500101000000Z")).toISOString()).toBe("1950-01-01T00:00:00.000Z");
    expect(decodeDerTime(el(0x18, "00050301120000.25Z")).toISOString()).toBe("0005-03-01T12:00:00.250Z");
    expect(decodeDerTime(el(0x18, "20240229120000Z")).toISOString()).toBe("2024-02-29T12:00:00.000Z");
    for (const bad of [[0x17, "250230000000Z"], [0x18, "00050229120000Z"], [0x17, "2501010000Z"], [0x17, "250101000000+0100"], [0x18, "20250101240000Z"], [0x04, "250101000000Z"]] as const) {
      expect(() => decodeDerTime(el(bad[0], bad[1])), bad[1]).toThrow(expect.objectContaining({ code: "malformed_der" }));
    }
    expect(toHex(encodeDerTime(new Date(Date.UTC(2049, 11, 31, 23, 59, 59))))).toBe(toHex(encodeDer(0x17, new TextEncoder().encode("491231235959Z"))));
    expect(toHex(encodeDerTime(new Date(Date.UTC(2050, 0, 1))))).toBe(toHex(encodeDer(0x18, new TextEncoder().encode("20500101000000Z"))));
    expect(() => encodeDerTime(new Date(NaN))).toThrow(expect.objectContaining({ code: "invalid_input" }));
  });

  it("strings: UTF-32 and UTF-16 beyond the BMP (the schema packages cut U+1D518 to U+D518), odd sizes refused", () => {
    expect(decodeDerString(el(0x1c, [0, 1, 0xd5, 0x18]))).toBe("𝔘");
    expect(decodeDerString(el(0x1e, [0xd8, 0x35, 0xdd, 0x18]))).toBe("𝔘");
    expect(decodeDerString(el(0x14, [0x63, 0xe9]))).toBe("cé");
    expect(decodeDerString(el(0x03, [0]))).toBeUndefined();
    expect(() => decodeDerString(el(0x1e, [0, 0x41, 0]))).toThrow(expect.objectContaining({ code: "malformed_der" }));
  });

  it("object identifiers round-trip, large arcs included; bad text is typed", () => {
    for (const oid of ["2.5.4.3", "1.2.840.113549.1.9.14", "2.999.1", "1.3.6.1.4.1.311.21.20", "0.39", "2.40.9007199254740991"]) expect(decodeOid(readDer(encodeOid(oid)).value)).toBe(oid);
    for (const bad of ["1", "3.1", "1.40", "1.2.x", "1.-2"]) expect(() => encodeOid(bad), bad).toThrow(expect.objectContaining({ code: "invalid_input" }));
    expect(() => decodeOid(new Uint8Array([0x2a, 0x86]))).toThrow(expect.objectContaining({ code: "malformed_der" }));
  });
});

/** `fn()`'s value, or undefined when it throws a malformed_der / malformed_pem EdgecertError; anything else fails. */
function typed<T>(fn: () => T, replay: string): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof EdgecertError && /^malformed_|^invalid_input$/.test(err.code)) return undefined;
    throw new Error(`${replay}: untyped ${String(err)}`, { cause: err });
  }
}

/** One to three random edits: flip, set, drop or insert a byte, truncate, or change a length byte. */
function mutate(input: Uint8Array, random: () => number): Uint8Array {
  let bytes = input.slice();
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * bytes.length);
    const kind = Math.floor(random() * 6);
    if (kind === 0) bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
    else if (kind === 1) bytes[at] = Math.floor(random() * 256);
    else if (kind === 2) bytes = new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
    else if (kind === 3) bytes = new Uint8Array([...bytes.subarray(0, at), Math.floor(random() * 256), ...bytes.subarray(at)]);
    else if (kind === 4) bytes = bytes.slice(0, at);
    else bytes[at] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff][Math.floor(random() * 7)]!;
  }
  return bytes;
}
