// npm run bench: issuances under issue 23's fault mix (test/support/chaos-mix.ts) through the fault
// proxy in front of Pebble — success rate and the requests the faults cost beyond 2N + 8, counted at
// the CA side (test/support/chaos-run.ts).
import { Http01Solver } from "../src/index.ts";
import { runChaos, type ChaosRunResult } from "../test/support/chaos-run.ts";
import { serveHttp01 } from "../test/support/challenge-servers.ts";
import { startFaultProxy } from "../test/support/fault-proxy.ts";
import type { PebbleInstance } from "../test/support/pebble.ts";

/** `rounds` five-name issuances under the chaos mix for `seed`, on `pebble`'s http-01 port. */
export async function chaosBench(pebble: PebbleInstance, rounds: number, seed: number): Promise<ChaosRunResult> {
  const http01 = new Http01Solver();
  const proxy = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
  const server = await serveHttp01(pebble.httpPort, http01);
  try {
    return await runChaos({ proxy, http01, seed, rounds, names: 5, requestTimeoutMs: 400 });
  } finally {
    await server.close();
    await proxy.close();
  }
}
