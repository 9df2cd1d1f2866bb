/**
 * `edgecert/tls/node` under Deno's Node compatibility (`node:https`, `node:http`): `listen()` obtains
 * a certificate (http-01 on its plain port), serves it by SNI, and serves a forced renewal from the
 * next handshake on the same listener — no re-serve, unlike `edgecert/tls/deno`. Prints JSON report
 * lines; exits non-zero on any failure.
 *
 *   deno run -A test/runtimes/node-helper-smoke.ts
 */
import { CertificateManager } from "../../src/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { listen } from "../../src/tls/node.ts";
import { check, report, runtime, testBed, trustingFetch } from "./runtime-env.ts";
import { handshake, httpsGet, normalizeSerial } from "./tls-client.ts";

const manager = new CertificateManager({
  termsOfServiceAgreed: true,
  storage: new MemoryStorage(),
  directoryUrl: testBed.directoryUrl,
  fetch: trustingFetch(testBed.caPem),
  retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 },
});
const names = [`node-helper.${runtime}.${testBed.tag}.example.test`];
const auto = await listen(manager, {
  names,
  httpsPort: 0,
  httpPort: testBed.httpPort,
  hostname: "127.0.0.1",
  renewIntervalMs: false,
  handler: (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`node helper on ${runtime}`);
  },
});
try {
  const first = normalizeSerial(auto.certificate.serialNumber);
  const r = await httpsGet({ port: auto.httpsPort, serverName: names[0]!, ca: testBed.rootPem });
  check(r.authorized && r.serialNumber === first && r.body === `node helper on ${runtime}`, JSON.stringify(r));
  const renewed = normalizeSerial((await manager.renew(names)).serialNumber);
  const after = await handshake({ port: auto.httpsPort, serverName: names[0]!, ca: testBed.rootPem });
  check(after.authorized && after.serialNumber === renewed && renewed !== first, `after renewal: ${JSON.stringify(after)}`);
  report({ check: "node-helper", port: auto.httpsPort, before: first, after: renewed });
} finally {
  await auto.close();
}
report({ check: "done", ok: true });
