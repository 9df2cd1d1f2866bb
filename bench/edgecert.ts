import { AcmeClient, generateKeyPair, obtainCertificate, type Solver } from "../src/index.ts";
import { countingFetch } from "../test/support/request-counter.ts";
import type { Sample } from "./measure.ts";

/**
 * One issuance by edgecert with a new account, against `target` (Pebble, or the counting proxy).
 * Keys are generated before the clock starts (key generation is excluded from CPU). CPU is this
 * process's: it includes the in-process challenge servers the CA calls and Node's HTTP/TLS stack.
 */
export async function edgecertIssuance(
  target: { directoryUrl: string; fetch: typeof fetch },
  names: string[],
  challenge: string,
  solver: Solver,
): Promise<Sample> {
  const accountKey = await generateKeyPair("ES256");
  const certificateKey = await generateKeyPair("ES256");
  const counter = countingFetch(target.fetch);
  const client = new AcmeClient({ directoryUrl: target.directoryUrl, accountKey, fetch: counter.fetch });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let ok = true;
  try {
    await obtainCertificate({ termsOfServiceAgreed: true, client, names, solvers: { [challenge]: solver }, certificateKey });
  } catch {
    ok = false;
  }
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  return { ok, requests: counter.count(), wallMs, cpuMs: (cpu.user + cpu.system) / 1000, peakRssMiB: peak / 2 ** 20 };
}
