import { describe, expect, it } from "vitest";
import {
  base64urlDecode,
  certificateMatchesKey,
  base64urlEncode,
  createCsr,
  createExternalAccountBinding,
  createKeyChangeJws,
  createTlsAlpn01Certificate,
  exportPrivateKeyPem,
  exportPublicJwk,
  exportPublicKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  importPublicKeyPem,
  jwkThumbprint,
  keyAlgorithmOf,
  parseCertificate,
  pemDecodeAll,
  pemEncode,
  signJws,
  splitPemChain,
  verifyJws,
  type KeyAlgorithmName,
} from "../../src/webcrypto/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { openssl } from "../support/openssl.ts";

const ALGS: KeyAlgorithmName[] = ["ES256", "ES384", "RS256", "EdDSA"];

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EdgecertError);
    expect((err as EdgecertError).code).toBe(code);
    return;
  }
  throw new Error("expected a throw");
}

async function expectCodeAsync(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(EdgecertError);
  await expect(p).rejects.toMatchObject({ code });
}

describe("base64url", () => {
  it("round-trips bytes and rejects padding and foreign characters", () => {
    const bytes = new Uint8Array([0, 255, 62, 63, 250, 1]);
    const text = base64urlEncode(bytes);
    expect(text).toBe("AP8-P_oB");
    expect([...base64urlDecode(text)]).toEqual([...bytes]);
    expectCode(() => base64urlDecode("AP8+P/oB"), "invalid_input");
    expectCode(() => base64urlDecode("AP8-P_oB=="), "invalid_input");
    expectCode(() => base64urlDecode("A"), "invalid_input");
  });
});

describe("keys and PEM", () => {
  it.each(ALGS)("%s: PKCS#8 PEM round trip that openssl accepts", async (alg) => {
    const pair = await generateKeyPair(alg);
    expect(keyAlgorithmOf(pair.privateKey)).toBe(alg);
    const pem = await exportPrivateKeyPem(pair.privateKey);
    const out = await openssl(["pkey", "-in", "{dir}/k.pem", "-noout", "-text"], { "k.pem": pem });
    expect(out).toMatch(alg === "RS256" ? /Private-Key: \(2048 bit/ : alg === "EdDSA" ? /ED25519 Private-Key/ : /Private-Key/);
    const back = await importPrivateKeyPem(pem);
    expect(keyAlgorithmOf(back.privateKey)).toBe(alg);
    expect(await jwkThumbprint(back.publicKey)).toBe(await jwkThumbprint(pair.publicKey));
    const spki = await exportPublicKeyPem(pair.publicKey);
    expect(await jwkThumbprint(await importPublicKeyPem(spki))).toBe(await jwkThumbprint(pair.publicKey));
  });

  it("imports a key openssl generated", async () => {
    const pem = await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    const pair = await importPrivateKeyPem(pem);
    expect(keyAlgorithmOf(pair.privateKey)).toBe("ES384");
  });

  it("rejects malformed PEM, legacy formats and unsupported curves with typed errors", async () => {
    expectCode(() => pemDecodeAll("hello"), "malformed_pem");
    expectCode(() => pemDecodeAll("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"), "malformed_pem");
    expectCode(() => pemDecodeAll("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----"), "malformed_pem");
    await expectCodeAsync(importPrivateKeyPem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----"), "unsupported_key");
    await expectCodeAsync(importPrivateKeyPem(pemEncode("PRIVATE KEY", new Uint8Array([0x30, 0x03, 0x02, 0x01]))), "malformed_der");
    const p521 = await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"]);
    await expectCodeAsync(importPrivateKeyPem(p521), "unsupported_key");
    await expectCodeAsync(generateKeyPair("RS256", { modulusLength: 1024 as 2048 }), "unsupported_key");
    await expectCodeAsync(generateKeyPair("HS256" as KeyAlgorithmName), "unsupported_key");
  });

  it("splits a chain into certificates and ignores text around them", async () => {
    const a = await createTlsAlpn01Certificate({ identifier: { type: "dns", value: "a.test" }, keyAuthorization: "x.y" });
    const b = await createTlsAlpn01Certificate({ identifier: { type: "dns", value: "b.test" }, keyAuthorization: "x.y" });
    const chain = splitPemChain(`junk\n${a.certificatePem}\nmore junk\n${b.certificatePem}`);
    expect(chain.map((c) => parseCertificate(c).dnsNames[0])).toEqual(["a.test", "b.test"]);
    expectCode(() => splitPemChain(await_(exportPrivateKeyPem)), "malformed_pem");
  });
});

// Tiny helper so the synchronous expectCode above can take a PEM with no certificate in it.
function await_(_: unknown): string {
  return "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
}

describe("JWK thumbprint", () => {
  it("matches the RFC 7638 §3.1 example", async () => {
    const jwk = {
      kty: "RSA" as const,
      e: "AQAB",
      n:
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    };
    expect(await jwkThumbprint(jwk)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  });

  it("uses only the required members of an exported key", async () => {
    const pair = await generateKeyPair("ES256");
    const jwk = await exportPublicJwk(pair.publicKey);
    expect(Object.keys(jwk)).toEqual(["crv", "kty", "x", "y"]);
  });
});

describe("JWS", () => {
  it.each(ALGS)("%s: flattened JWS in kid and jwk forms verifies with the public key", async (alg) => {
    const pair = await generateKeyPair(alg);
    const jwk = await exportPublicJwk(pair.publicKey);
    const withJwk = await signJws(pair.privateKey, { url: "https://ca/new-acct", nonce: "n1", jwk }, { a: 1 });
    const v1 = await verifyJws(pair.publicKey, withJwk);
    expect(v1?.header).toEqual({ alg, jwk, nonce: "n1", url: "https://ca/new-acct" });
    expect(JSON.parse(v1!.payload)).toEqual({ a: 1 });
    const postAsGet = await signJws(pair.privateKey, { url: "https://ca/o/1", nonce: "n2", kid: "https://ca/acct/1" });
    expect(postAsGet.payload).toBe("");
    const v2 = await verifyJws(pair.publicKey, postAsGet);
    expect(v2?.header).toMatchObject({ kid: "https://ca/acct/1" });
    expect(v2?.header).not.toHaveProperty("jwk");
    const other = await generateKeyPair(alg);
    expect(await verifyJws(other.publicKey, postAsGet)).toBeNull();
    if (alg.startsWith("ES")) expect(base64urlDecode(postAsGet.signature).length).toBe(alg === "ES256" ? 64 : 96);
  });

  it("refuses a header with both or neither of kid and jwk", async () => {
    const pair = await generateKeyPair("ES256");
    await expectCodeAsync(signJws(pair.privateKey, { url: "u" }), "invalid_input");
    const jwk = await exportPublicJwk(pair.publicKey);
    await expectCodeAsync(signJws(pair.privateKey, { url: "u", kid: "k", jwk }), "invalid_input");
  });

  it("EAB is an HS256 MAC over the account JWK with kid and url (RFC 8555 §7.3.4)", async () => {
    const pair = await generateKeyPair("ES256");
    const jwk = await exportPublicJwk(pair.publicKey);
    const hmac = base64urlEncode(crypto.getRandomValues(new Uint8Array(32)));
    const eab = await createExternalAccountBinding({ kid: "kid-1", hmacKey: hmac }, jwk, "https://ca/new-acct");
    const header = JSON.parse(new TextDecoder().decode(base64urlDecode(eab.protected)));
    expect(header).toEqual({ alg: "HS256", kid: "kid-1", url: "https://ca/new-acct" });
    expect(JSON.parse(new TextDecoder().decode(base64urlDecode(eab.payload)))).toEqual(jwk);
    const key = await crypto.subtle.importKey("raw", base64urlDecode(hmac), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const ok = await crypto.subtle.verify("HMAC", key, base64urlDecode(eab.signature), new TextEncoder().encode(`${eab.protected}.${eab.payload}`));
    expect(ok).toBe(true);
  });

  it("key change inner JWS is signed by the new key and names the old one (RFC 8555 §7.3.5)", async () => {
    const oldKey = await generateKeyPair("ES256");
    const newKey = await generateKeyPair("EdDSA");
    const inner = await createKeyChangeJws(newKey, "https://ca/acct/9", oldKey.publicKey, "https://ca/key-change");
    const v = await verifyJws(newKey.publicKey, inner);
    expect(v?.header).toEqual({ alg: "EdDSA", jwk: await exportPublicJwk(newKey.publicKey), url: "https://ca/key-change" });
    expect(JSON.parse(v!.payload)).toEqual({ account: "https://ca/acct/9", oldKey: await exportPublicJwk(oldKey.publicKey) });
  });
});

describe("CSR", () => {
  it.each(ALGS)("%s: openssl verifies the signature and sees every DNS and IP SAN", async (alg) => {
    const key = await generateKeyPair(alg);
    const der = await createCsr({ key, names: ["example.test", "*.example.test"], ipAddresses: ["192.0.2.7", "2001:db8::1"] });
    const out = await openssl(["req", "-in", "{dir}/c.der", "-inform", "DER", "-verify", "-noout", "-text"], { "c.der": der });
    expect(out).toMatch(/verify OK|Certificate request self-signature verify OK/);
    expect(out).toContain("DNS:example.test");
    expect(out).toContain("DNS:*.example.test");
    expect(out).toContain("IP Address:192.0.2.7");
    expect(out).toMatch(/IP Address:2001:DB8:0:0:0:0:0:1/i);
    expect(out).toContain("CN = example.test");
  });

  it("leaves the subject empty (and the SAN critical) when the first name is too long for a CN", async () => {
    const key = await generateKeyPair("ES256");
    const long = `${"a".repeat(60)}.example.test`;
    const out = await openssl(["req", "-in", "{dir}/c.der", "-inform", "DER", "-noout", "-text"], {
      "c.der": await createCsr({ key, names: [long] }),
    });
    expect(out).not.toContain("CN =");
    expect(out).toMatch(/Subject Alternative Name: critical/);
  });

  it("rejects an empty name list and unencodable IPs", async () => {
    const key = await generateKeyPair("ES256");
    await expectCodeAsync(createCsr({ key, names: [] }), "invalid_input");
    await expectCodeAsync(createCsr({ key, ipAddresses: ["300.1.1.1"] }), "invalid_identifier");
  });
});

describe("X.509 and tls-alpn-01", () => {
  it("parses a certificate openssl made", async () => {
    const keyPem = await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    const certPem = await openssl(
      ["req", "-x509", "-key", "{dir}/k.pem", "-subj", "/CN=Test Root/O=Edge", "-days", "3", "-set_serial", "0x00ff01",
        "-addext", "subjectAltName=DNS:a.test,IP:10.0.0.1", "-addext", "authorityKeyIdentifier=keyid:always"],
      { "k.pem": keyPem },
    );
    const info = parseCertificate(certPem);
    expect(info.serialNumber).toBe("00ff01");
    expect(info.dnsNames).toEqual(["a.test"]);
    expect(info.ipAddresses).toEqual(["10.0.0.1"]);
    expect(info.issuerCommonName).toBe("Test Root");
    expect(info.subject).toBe("CN=Test Root, O=Edge");
    expect(info.authorityKeyIdentifier).toMatch(/^[0-9a-f]{40}$/);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(3 * 86400_000);
    expectCode(() => parseCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), "malformed_der");
  });

  it("certificateMatchesKey: true for the certificate's own key in any form, false for another", async () => {
    const cert = await createTlsAlpn01Certificate({ identifier: { type: "dns", value: "k.test" }, keyAuthorization: "a.b" });
    expect(await certificateMatchesKey(cert.certificatePem, cert.keyPair)).toBe(true);
    expect(await certificateMatchesKey(cert.certificateDer, cert.keyPair.publicKey)).toBe(true);
    expect(await certificateMatchesKey(parseCertificate(cert.certificatePem), cert.keyPair.privateKey)).toBe(true);
    expect(await certificateMatchesKey(cert.certificatePem, await generateKeyPair("ES256"))).toBe(false);
    expect(await certificateMatchesKey(cert.certificatePem, await generateKeyPair("EdDSA"))).toBe(false);
  });

  it.each([
    { type: "dns" as const, value: "alpn.example.test" },
    { type: "ip" as const, value: "192.0.2.9" },
  ])("builds the RFC 8737 certificate for a $type identifier", async (identifier) => {
    const keyAuthorization = "token123.thumbprint456";
    const cert = await createTlsAlpn01Certificate({ identifier, keyAuthorization });
    const out = await openssl(["x509", "-in", "{dir}/c.pem", "-noout", "-text"], { "c.pem": cert.certificatePem });
    expect(out).toContain(identifier.type === "dns" ? `DNS:${identifier.value}` : `IP Address:${identifier.value}`);
    expect(out).toMatch(/1\.3\.6\.1\.5\.5\.7\.1\.31: critical/);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keyAuthorization)));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join("");
    // The extension value is the DER of an OCTET STRING (04 20) wrapping the digest.
    const asn1 = await openssl(["asn1parse", "-in", "{dir}/c.pem"], { "c.pem": cert.certificatePem });
    const lines = asn1.split("\n");
    const at = lines.findIndex((l) => l.endsWith(":1.3.6.1.5.5.7.1.31"));
    expect(lines[at + 1]).toMatch(/BOOLEAN\s+:255$/);
    expect(lines[at + 2]).toMatch(new RegExp(`OCTET STRING\\s+\\[HEX DUMP\\]:0420${hex}$`));
    // Self-signed and verifiable with its own key.
    const verify = await openssl(["verify", "-ignore_critical", "-CAfile", "{dir}/c.pem", "-partial_chain", "{dir}/c.pem"], { "c.pem": cert.certificatePem });
    expect(verify).toContain("OK");
  });
});
