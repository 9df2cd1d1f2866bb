/**
 * The runtime's TLS helper end to end under Deno or Bun: `serveWithCertificates` obtains a certificate
 * from Pebble (http-01 on its own plain-HTTP port), serves HTTPS that a client verifies against
 * Pebble's issuing root, and swaps in a forced renewal while a client keeps connecting. Prints JSON
 * report lines; exits non-zero on any failure.
 *
 *   deno run -A [--unstable-net] test/runtimes/serve-smoke.ts [reuse-port]
 *   bun run test/runtimes/serve-smoke.ts
 */
import process from "node:process";
import { CertificateManager } from "../../src/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { check, report, runtime, testBed, trustingFetch } from "./runtime-env.ts";
import { handshake, httpsGet, normalizeSerial } from "./tls-client.ts";

const reusePort = process.argv.includes("reuse-port");
const manager = new CertificateManager({
  termsOfServiceAgreed: true,
  storage: new MemoryStorage(),
  directoryUrl: testBed.directoryUrl,
  fetch: trustingFetch(testBed.caPem),
  retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 },
});
const names = [`serve.${runtime}.${testBed.tag}.example.test`, `www.serve.${runtime}.${testBed.tag}.example.test`];
const body = `hello from ${runtime}`;
const common = {
  names,
  port: 0,
  hostname: "127.0.0.1",
  httpPort: testBed.httpPort,
  checkIntervalMs: 25,
  renewIntervalMs: false as const,
};

interface Served {
  port: number;
  httpPort: number | undefined;
  certificate: { serialNumber: string };
  stop(force?: boolean): Promise<void>;
}
let served: Served;
if (runtime === "deno") {
  const { serveWithCertificates } = await import("../../src/tls/deno.ts");
  served = await serveWithCertificates(manager, { ...common, reusePort, handler: () => new Response(body) });
} else {
  const { serveWithCertificates } = await import("../../src/tls/bun.ts");
  served = await serveWithCertificates(manager, { ...common, fetch: () => new Response(body) });
}

try {
  const first = normalizeSerial(served.certificate.serialNumber);
  for (const serverName of names) {
    const r = await httpsGet({ port: served.port, serverName, ca: testBed.rootPem });
    check(r.authorized && r.serialNumber === first, `${serverName}: ${JSON.stringify(r)}`);
    check(r.status === 200 && r.body === body, `${serverName}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }
  // The plain-HTTP port redirects to the HTTPS one.
  const redirect = await fetch(`http://127.0.0.1:${served.httpPort}/path?q=1`, { redirect: "manual" });
  await redirect.body?.cancel();
  check(redirect.status === 301, `redirect status ${redirect.status}`);
  check(redirect.headers.get("location") === `https://127.0.0.1:${served.port}/path?q=1`, `location ${redirect.headers.get("location")}`);
  report({ check: "served", port: served.port, serialNumber: first });

  // Renew while a client keeps connecting; the helper's check (every 25 ms) swaps the server.
  const renewal = manager.renew(names);
  const renewed = normalizeSerial((await renewal).serialNumber);
  check(renewed !== first, "renewal kept the serial");
  let seen = first;
  let handshakes = 0;
  const failures: string[] = [];
  for (let i = 0; i < 400 && seen !== renewed; i++) {
    try {
      seen = (await handshake({ port: served.port, serverName: names[0]!, ca: testBed.rootPem })).serialNumber;
      handshakes++;
    } catch (error) {
      failures.push(String(error));
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  check(seen === renewed, `still serving ${seen} after renewal to ${renewed}`);
  const after = await httpsGet({ port: served.port, serverName: names[1]!, ca: testBed.rootPem });
  check(after.authorized && after.serialNumber === renewed && after.body === body, `after renewal: ${JSON.stringify(after)}`);
  check(normalizeSerial(served.certificate.serialNumber) === renewed, "helper reports the old certificate");
  // ECONNREFUSED: nothing was listening. ECONNRESET: a connection queued on the old listener when it
  // closed (Linux resets those unless net.ipv4.tcp_migrate_req=1).
  const refused = failures.filter((f) => f.includes("ECONNREFUSED")).length;
  const reset = failures.filter((f) => f.includes("ECONNRESET")).length;
  report({ check: "renewal", port: served.port, before: first, after: renewed, handshakes, refused, reset, other: failures.length - refused - reset, failures: failures.slice(0, 3), reusePort });
} finally {
  await served.stop(true);
}
report({ check: "done", ok: true });
