// One real renewal at a time in the Worker's CertificateRenewer (workerd) against Pebble (issue 26): the
// CA requests it sends (kinds, Pebble's time for each, sizes), the subrequests, KV operations and calls
// open at once of the renewer invocation (bench/workerd/counted-worker.ts counts them where Workers
// would), and workerd's CPU while it runs. The request sequence becomes the simulated day's CA model.
import { fileURLToPath } from "node:url";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker } from "../test/support/worker.ts";
import type { CaStep } from "../test/support/ca-latency-model.ts";
import { serverCpuNs } from "./process-usage.ts";

/** What a Pebble URL path is, as RFC 8555 names the resource. */
function kindOf(method: string, path: string): string {
  if (path === "/dir") return "directory";
  if (path.startsWith("/nonce-plz")) return "newNonce";
  if (path.startsWith("/sign-me-up")) return "newAccount";
  if (path.startsWith("/order-plz")) return "newOrder";
  if (path.startsWith("/authZ/")) return "authz";
  if (path.startsWith("/chalZ/")) return "challenge";
  if (path.startsWith("/finalize-order/")) return "finalize";
  if (path.startsWith("/my-order/")) return "order";
  if (path.startsWith("/certZ/")) return "certificate";
  if (path.startsWith("/my-account/")) return "account";
  return `${method} ${path.split("/")[1] ?? ""}`;
}

/** One measured renewal. */
export interface RenewalCost {
  outcome: string;
  caRequests: number;
  steps: CaStep[];
  /** workerd CPU while it ran: the renewer's invocation and those it called (index, storage, KV, outbox, the http-01 answer). */
  cpuMs: number;
  wallMs: number;
  /** Of the renewer invocation: fetch() calls, Durable Object calls, KV operations, most open at once. */
  fetches: number;
  objectCalls: number;
  kvOperations: number;
  maxInFlight: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Issues `certificates` through a tick, then renews each one alone (a forced renewal: the same CA exchange as a due one). */
export async function renewerCost(pebble: PebbleInstance, certificates = 5) {
  let recorded: CaStep[] = [];
  const worker = await startWorker(pebble, {
    entry: fileURLToPath(new URL("../test/support/worker-sim/counted-worker.ts", import.meta.url)),
    outbound: async (request) => {
      const requestBytes = request.method === "POST" ? (await request.clone().arrayBuffer()).byteLength : 0;
      const t0 = performance.now();
      const response = await pebble.fetch(request);
      const body = await response.arrayBuffer();
      const serviceMs = Math.round((performance.now() - t0) * 10) / 10;
      recorded.push({ kind: kindOf(request.method, new URL(request.url).pathname), method: request.method as CaStep["method"], serviceMs, requestBytes, responseBytes: body.byteLength });
      return new Response(body.byteLength === 0 ? null : body, { status: response.status, headers: [...(response.headers as unknown as Iterable<[string, string]>)] });
    },
  });
  try {
    const index = await worker.index();
    const now = Date.now();
    const ids = Array.from({ length: certificates }, (_, i) => `cost-${i}`);
    await index.upsertMany(ids.map((id) => ({ id, names: [`${id}.example.test`], dueAt: now - 1_000, status: "pending", failures: 0, updatedAt: now })));
    await worker.cron(now);
    const issued = await index.lastTick();
    const renewals: RenewalCost[] = [];
    for (const id of ids) {
      recorded = [];
      const cpu0 = serverCpuNs("workerd");
      const t0 = performance.now();
      const result = (await (await fetch(new URL(`/__renew?id=${id}`, worker.url))).json()) as { outcome: string };
      const wallMs = performance.now() - t0;
      // What the run left to waitUntil (its webhook event) belongs to its invocation too.
      await new Promise((r) => setTimeout(r, 300));
      const cpuMs = (serverCpuNs("workerd") - cpu0) / 1e6;
      const counts = (await (await fetch(new URL("/__counts", worker.url))).json()) as { fetches: number; objectCalls: number; kvOperations: number; maxInFlight: number };
      renewals.push({ outcome: result.outcome, caRequests: recorded.length, steps: recorded, cpuMs: Math.round(cpuMs * 10) / 10, wallMs: Math.round(wallMs), ...counts });
    }
    const typical = [...renewals].sort((a, b) => a.caRequests - b.caRequests)[Math.floor(renewals.length / 2)]!;
    return {
      firstIssuances: issued?.outcomes ?? {},
      renewals: renewals.map(({ steps, ...r }) => ({ ...r, kinds: steps.map((s) => s.kind).join(",") })),
      median: {
        caRequests: median(renewals.map((r) => r.caRequests)),
        cpuMs: median(renewals.map((r) => r.cpuMs)),
        wallMs: median(renewals.map((r) => r.wallMs)),
        subrequests: median(renewals.map((r) => r.fetches + r.objectCalls)),
        kvOperations: median(renewals.map((r) => r.kvOperations)),
        maxInFlight: Math.max(...renewals.map((r) => r.maxInFlight)),
      },
      maxCpuMs: Math.max(...renewals.map((r) => r.cpuMs)),
      /** The requests of the renewal with the median count: the simulated windows' CA model. */
      typicalSteps: typical.steps,
    };
  } finally {
    await worker.stop();
  }
}
