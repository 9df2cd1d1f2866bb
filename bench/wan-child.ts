// One issuance in a fresh process, for the WAN cells (bench/wan.ts): the parent times it from spawn
// to exit, so process start is included. Trusts the CA through NODE_EXTRA_CA_CERTS and uses the
// global fetch, as an application would. Serves http-01 itself, like any client with a standalone
// responder. Prints one JSON line: request counts by method. WAN_TRACE=1 also prints a per-request
// timeline (ms since module start) on stderr, and the process's CPU time.
import { AcmeClient, Http01Solver, generateKeyPair, obtainCertificate } from "../src/index.ts";
import { serveHttp01 } from "../test/support/challenge-servers.ts";
import { countingFetch } from "../test/support/request-counter.ts";

const job = JSON.parse(process.argv[2]!) as { directoryUrl: string; httpPort: number; names: string[]; concurrency?: number };
const http01 = new Http01Solver();
const server = await serveHttp01(job.httpPort, http01);
const t0 = performance.now();
const trace: string[] = [];
const traced: typeof fetch = async (input, init) => {
  const start = performance.now() - t0;
  const res = await globalThis.fetch(input, init);
  if (process.env.WAN_TRACE) trace.push(`${start.toFixed(0)}-${(performance.now() - t0).toFixed(0)} ${init?.method ?? "GET"} ${String(input).replace(/^https:\/\/[^/]+/, "")}`);
  return res;
};
const counter = countingFetch(traced);
let ok = true;
let error: string | undefined;
try {
  const client = new AcmeClient({ directoryUrl: job.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: counter.fetch });
  await obtainCertificate({
    termsOfServiceAgreed: true,
    client,
    names: job.names,
    solvers: { "http-01": http01 },
    ...(job.concurrency !== undefined ? { concurrency: job.concurrency } : {}),
  });
} catch (err) {
  ok = false;
  error = String(err);
}
await server.close();
if (process.env.WAN_TRACE) console.error(`${trace.join("\n")}\nexit at ${(performance.now() - t0).toFixed(0)} ms after module start`);
const byMethod: Record<string, number> = {};
for (const r of counter.requests) byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
// Requests made only for a nonce (RFC 8555 §7.2): the extra ones parallel signed requests need.
const nonceRequests = counter.requests.filter((r) => r.method !== "POST" && !r.url.endsWith(new URL(job.directoryUrl).pathname)).length;
// The whole process's CPU since it started (Node's boot, module evaluation, TLS, the http-01 server).
const usage = process.cpuUsage();
const cpuMs = Math.round((usage.user + usage.system) / 1000);
console.log(JSON.stringify({ ok, error, requests: counter.count(), byMethod, nonceRequests, cpuMs }));
process.exit(ok ? 0 : 1);
