/**
 * The core of edgecert under Deno or Bun, from `src/index.ts` as those runtimes resolve it (`.ts`
 * imports, bare `@peculiar/*` from node_modules): keys and PEM, JWS, CSRs, and one real issuance
 * against the Pebble that `runtimes.test.ts` started. Prints JSON report lines; exits non-zero on
 * any failure.
 *
 *   deno run -A test/runtimes/core-smoke.ts      bun run test/runtimes/core-smoke.ts
 */
import {
  CertificateManager,
  createCsr,
  exportPrivateKeyPem,
  exportPublicJwk,
  generateKeyPair,
  importPrivateKeyPem,
  parseCertificate,
  readCsrNames,
  signJws,
  verifyJws,
} from "../../src/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { acmeHttpHandler } from "../../src/tls/fetch-http-handler.ts";
import { check, report, runtime, runtimeVersion, servePlainHttp, testBed, trustingFetch } from "./runtime-env.ts";

// Keys: generate, export, import, and prove the imported key is the same by a signature.
const keys = await generateKeyPair("ES256");
const pem = await exportPrivateKeyPem(keys.privateKey);
check(pem.startsWith("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM expected");
const imported = await importPrivateKeyPem(pem);
check((await exportPrivateKeyPem(imported.privateKey)) === pem, "PEM round trip changed the key");

// JWS: sign with the imported key, verify with the original public key; a tampered payload fails.
const jws = await signJws(imported.privateKey, { jwk: await exportPublicJwk(keys.publicKey), nonce: "n", url: "https://ca.test/x" }, { hello: runtime });
const verified = await verifyJws(keys.publicKey, jws);
check(verified?.payload === JSON.stringify({ hello: runtime }), "JWS did not verify");
check((await verifyJws(keys.publicKey, { ...jws, payload: jws.payload.slice(1) })) === null, "tampered JWS verified");

// CSR: create and read the names back.
const csrNames = [`csr.${testBed.tag}.example.test`, `www.csr.${testBed.tag}.example.test`];
const csr = await createCsr({ key: imported, names: csrNames, ipAddresses: ["127.0.0.1"] });
const parsedCsr = readCsrNames(csr);
check(JSON.stringify(parsedCsr.dnsNames) === JSON.stringify(csrNames), `CSR names: ${JSON.stringify(parsedCsr)}`);
check(JSON.stringify(parsedCsr.ipAddresses) === JSON.stringify(["127.0.0.1"]), `CSR IPs: ${JSON.stringify(parsedCsr)}`);
report({ check: "webcrypto", keyPemBytes: pem.length, csrBytes: csr.length });

// One real issuance: the manager's http-01 tokens served by this runtime's own HTTP server.
const manager = new CertificateManager({
  termsOfServiceAgreed: true,
  storage: new MemoryStorage(),
  directoryUrl: testBed.directoryUrl,
  fetch: trustingFetch(testBed.caPem),
  retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 },
});
const http = servePlainHttp(testBed.httpPort, acmeHttpHandler(manager));
try {
  const names = [`${runtime}.${testBed.tag}.example.test`, `www.${runtime}.${testBed.tag}.example.test`];
  const certificate = await manager.manage(names);
  const leaf = parseCertificate(certificate.chainPem);
  check(JSON.stringify([...leaf.dnsNames].sort()) === JSON.stringify([...names].sort()), `issued names ${leaf.dnsNames.join(",")}`);
  check((await manager.getCertificate(names[1]!))?.serialNumber === certificate.serialNumber, "getCertificate serves another certificate");
  report({ check: "issuance", version: runtimeVersion, names: leaf.dnsNames, serialNumber: certificate.serialNumber, notAfter: certificate.notAfter.toISOString() });
} finally {
  await http.stop();
}
report({ check: "done", ok: true });
