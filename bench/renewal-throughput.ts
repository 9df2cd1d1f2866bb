import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker } from "../test/support/worker.ts";
import { serverCpuSeconds } from "./process-usage.ts";

/**
 * Sustained renewals through the Worker's cron tick (in workerd) with the CA's latency modelled: a
 * latency-adding hop in front of Pebble holds every CA request `latencyMs` before forwarding it (one
 * round trip to a distant CA; Pebble itself answers at once with PEBBLE_VA_NOSLEEP). `certificates`
 * due entries, one tick with RENEW_BATCH = `certificates` and RENEW_CHUNK = `chunk`: the renewals are
 * real issuances (no certificate stored yet, so each is a first order — the same CA round trips as a
 * renewal without ARI). Reports the rate, CA requests per renewal, the most CA requests open at once,
 * the tick's per-invocation subrequests and simultaneous calls, and workerd's CPU for the whole tick.
 */
export async function renewalThroughput(pebble: PebbleInstance, certificates: number, latencyMs: number, chunk = 25) {
  let open = 0;
  let maxOpen = 0;
  let caRequests = 0;
  const worker = await startWorker(pebble, {
    vars: { RENEW_BATCH: String(certificates), RENEW_CHUNK: String(chunk) },
    outbound: async (request) => {
      caRequests++;
      open++;
      maxOpen = Math.max(maxOpen, open);
      try {
        await new Promise((r) => setTimeout(r, latencyMs));
        return await pebble.fetch(request);
      } finally {
        open--;
      }
    },
  });
  try {
    const index = await worker.index();
    const now = Date.now();
    const entries = Array.from({ length: certificates }, (_, i) => ({ id: `tp-${i}`, names: [`tp-${i}.example.test`], dueAt: now - 1_000, status: "pending", failures: 0, updatedAt: now }));
    await index.upsertMany(entries);
    const cpu0 = serverCpuSeconds("workerd");
    const t0 = performance.now();
    await worker.cron(now);
    const wallS = (performance.now() - t0) / 1000;
    const workerdCpuS = serverCpuSeconds("workerd") - cpu0;
    const tick = await index.lastTick();
    const done = (tick?.outcomes.issued ?? 0) + (tick?.outcomes.renewed ?? 0);
    const perSecond = done / wallS;
    return {
      certificates,
      latencyMs,
      chunk,
      renewed: done,
      outcomes: tick?.outcomes ?? {},
      wallS: Math.round(wallS * 10) / 10,
      perSecond: Math.round(perSecond * 100) / 100,
      perDay: Math.round(perSecond * 86_400),
      caRequestsPerRenewal: Math.round((caRequests / Math.max(1, done)) * 10) / 10,
      maxCaRequestsOpen: maxOpen,
      invocations: tick?.invocations ?? null,
      workerdCpuS: Math.round(workerdCpuS * 10) / 10,
      workerdCpuMsPerRenewal: Math.round((workerdCpuS * 1000) / Math.max(1, done)),
    };
  } finally {
    await worker.stop();
  }
}
