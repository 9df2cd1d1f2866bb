// A simulated window of renewals through the Worker's cron tick, in workerd (issue 26): the real cron
// handler, renewal index, dispatchers, outbox and storage, each certificate's renewer modelling its ACME
// exchange against a CA stand-in with the CA's latency (test/support/worker-sim/). Time is virtual: it
// moves only through the modelled CA waits (worker-sim/sim-clock.ts), so a day runs as fast as this
// machine can run its ticks, and a loaded machine changes no virtual figure.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { renewalLatencyMs, type CaLatencyModel } from "./ca-latency-model.ts";
import type { PebbleInstance } from "./pebble.ts";
import { cpuNs, rssBytes } from "./process-tree.ts";
import { seededRandom } from "./seeded-random.ts";
import { startWorker } from "./worker.ts";
import type { SimSummary, SimTickStats } from "./worker-sim/sim-stats.ts";

/**
 * Renewer objects the simulation lets live at once. Local workerd keeps an idle object in memory 10 s
 * and opens a SQLite database for each (a class without SQL storage too), under one 512 MiB SQLite heap
 * for the process: ~3,500 objects alive at once run it out (SQLITE_NOMEM). Renewing far faster than in
 * real time, the simulation would get there (it did after 290,000 renewals of a day, when the machine
 * grew quiet and ticks ran in half a second), so it paces ticks: at most this many renewals per 10 s of
 * wall time. Deployed, each object lives on its own somewhere; this is a limit of one local process.
 */
const LIVE_RENEWERS = 2_000;
const IDLE_EVICTION_MS = 10_000;

/** One simulated window. */
export interface WindowOptions {
  /** Cron ticks, one a minute (1,440: a day). */
  ticks: number;
  /** Certificates coming due in the window, at times drawn evenly at random over it (seeded). */
  due: number;
  /** Certificates in the index not due in the window (the rest of the fleet). */
  notDue: number;
  /** Certificates besides, all due at one instant: `count` at minute `minute`. */
  burst?: { minute: number; count: number };
  /** The Worker's variables. */
  renewBatch: number;
  renewChunk: number;
  model: CaLatencyModel;
  /** Lifetime of renewed certificates (hours; default 160, Let's Encrypt's shortlived): their next renewal falls beyond the window. */
  lifetimeHours?: number;
  seed?: number;
}

/** One tick as measured. Times in virtual ms unless said. */
export interface TickRow {
  minute: number;
  /** Certificates due when the tick started and not yet renewed. */
  dueBefore: number;
  /** Handed to dispatchers (RENEW_BATCH at most). */
  dispatched: number;
  /** Claimed but given back: chunks not started within the tick's dispatch window (workers/scheduled.ts). */
  released: number;
  renewed: number;
  /** Renewals of a certificate renewed before in the window (each comes due once: must be 0). */
  renewedAgain: number;
  /** Invocations and their counts, as the tick records them (workers/scheduled.ts). */
  dispatchers: number;
  cronSubrequests: number;
  cronMaxInFlight: number;
  dispatcherMaxSubrequests: number;
  dispatcherMaxInFlight: number;
  /** Of the modelled renewers: the most subrequests / calls open at once of one invocation. */
  renewerMaxSubrequests: number;
  renewerMaxInFlight: number;
  /** Outcomes the dispatchers returned, and the first few errors (none expected). */
  outcomes: Record<string, number>;
  errors: string[];
  /** Requests the CA stand-in answered, and the most open at once. */
  caRequests: number;
  caMaxOpen: number;
  /** Longest wait from a certificate's due time to the end of its renewal, among this tick's. */
  maxLagMs: number;
  /** From the tick's start to its last renewal's end. */
  durationMs: number;
  /** Wall time this machine took to run it. */
  wallMs: number;
  /** workerd CPU over the tick: all of its invocations (cron, dispatchers, renewers, index, outbox) and the CA stand-in's. */
  cpuMs: number;
}

/** What a window did. */
export interface WindowResult {
  renewalLatencyMs: number;
  /** Virtual epoch ms of the window's start and end. */
  windowStart: number;
  windowEnd: number;
  certificates: number;
  dueInWindow: number;
  fillS: number;
  wallS: number;
  workerdCpuS: number;
  workerdRssBytes: number;
  /** The index at the end of the window. */
  summary: SimSummary;
  rows: TickRow[];
}

let caScript: Promise<string> | undefined;
/** The CA stand-in as a module Worker. */
const simCa = () =>
  (caScript ??= build({ entryPoints: [fileURLToPath(new URL("./worker-sim/sim-ca.ts", import.meta.url))], bundle: true, format: "esm", write: false, logLevel: "error" }).then((r) => r.outputFiles[0]!.text));

/** The index's RPC methods the window uses. */
interface SimIndex {
  upsertMany(entries: unknown[]): Promise<void>;
  simSummary(end: number): Promise<SimSummary>;
  lastTick(): Promise<{ at: number; dispatched: number; released?: number; invocations?: { tick: { subrequests: number; maxInFlight: number }; dispatchers: number; dispatcherMaxSubrequests: number; dispatcherMaxInFlight: number } } | undefined>;
}

/** Runs the window; `onTick` sees each tick as it lands. */
export async function simulateRenewals(options: WindowOptions, onTick?: (row: TickRow) => void): Promise<WindowResult> {
  const { ticks, model } = options;
  const noCa = { directoryUrl: "https://ca.sim.test/directory" } as unknown as PebbleInstance;
  const worker = await startWorker(noCa, {
    port: 0,
    entry: fileURLToPath(new URL("./worker-sim/sim-worker.ts", import.meta.url)),
    services: { SIM_CA: await simCa() },
    // The stand-in renewer stores nothing: without a SQLite database each of a day's hundreds of
    // thousands of renewer objects costs local workerd a fraction as much to create.
    withoutSqlite: ["CERTIFICATE_RENEWER"],
    vars: {
      RENEW_BATCH: String(options.renewBatch),
      RENEW_CHUNK: String(options.renewChunk),
      SIM_MODEL: JSON.stringify(model),
      SIM_LIFETIME_HOURS: String(options.lifetimeHours ?? 160),
    },
    outbound: () => new Response("the simulated window reaches no CA but the stand-in", { status: 502 }),
  });
  try {
    const ns = await worker.mf.getDurableObjectNamespace("RENEWAL_INDEX");
    const index = ns.get(ns.idFromName("index")) as unknown as SimIndex;
    const ca = await worker.mf.getWorker("sim_ca");
    // The window starts on a minute, a day ahead (nothing in it is due by the wall clock); tick k runs at its k-th minute's end.
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 86_400_000;
    const end = start + ticks * 60_000;
    const rand = seededRandom(options.seed ?? 26);
    const dueTimes: number[] = [];
    for (let i = 0; i < options.due; i++) dueTimes.push(start + Math.floor(rand() * ticks * 60_000));
    for (let i = 0; i < (options.burst?.count ?? 0); i++) dueTimes.push(start + options.burst!.minute * 60_000);
    const total = dueTimes.length + options.notDue;
    const fill0 = performance.now();
    for (let from = 0; from < total; from += 5_000) {
      const entries = [];
      for (let i = from; i < Math.min(total, from + 5_000); i++) {
        // The rest of the fleet: due an hour or more after the window (see simSummary).
        const dueAt = i < dueTimes.length ? dueTimes[i]! : end + 3_600_000 + Math.floor(rand() * 4 * 86_400_000);
        entries.push({ id: `c${String(i).padStart(7, "0")}`, names: [`customer-${i}.saas.example`], dueAt, status: "valid", notAfter: dueAt + 53 * 3_600_000, failures: 0, updatedAt: start - 86_400_000 });
      }
      await index.upsertMany(entries);
    }
    const fillS = (performance.now() - fill0) / 1000;
    dueTimes.sort((a, b) => a - b);
    const rows: TickRow[] = [];
    let renewed = 0;
    let dueSoFar = 0;
    const wall0 = performance.now();
    const cpu0 = cpuNs("workerd");
    for (let k = 1; k <= ticks; k++) {
      const at = start + k * 60_000;
      while (dueSoFar < dueTimes.length && dueTimes[dueSoFar]! <= at) dueSoFar++;
      const cpu = cpuNs("workerd");
      const t0 = performance.now();
      await worker.cron(at);
      const wallMs = performance.now() - t0;
      const tickCpuMs = (cpuNs("workerd") - cpu) / 1e6;
      const tick = await index.lastTick();
      if (tick?.at !== at || !tick.invocations) throw new Error(`the tick at minute ${k} recorded no statistics`);
      const sim = (await (await fetch(new URL("/__sim/stats", worker.url))).json()) as SimTickStats & { now: number };
      const caStats = (await (await ca.fetch("http://sim-ca/__stats")).json()) as { requests: number; maxOpen: number };
      const inv = tick.invocations;
      const row: TickRow = {
        minute: k,
        dueBefore: dueSoFar - renewed,
        dispatched: tick.dispatched,
        released: tick.released ?? 0,
        renewed: sim.renewed,
        renewedAgain: sim.renewedAgain,
        dispatchers: inv.dispatchers,
        cronSubrequests: inv.tick.subrequests,
        cronMaxInFlight: inv.tick.maxInFlight,
        dispatcherMaxSubrequests: inv.dispatcherMaxSubrequests,
        dispatcherMaxInFlight: inv.dispatcherMaxInFlight,
        renewerMaxSubrequests: sim.renewerMaxSubrequests,
        renewerMaxInFlight: sim.renewerMaxInFlight,
        outcomes: sim.outcomes,
        errors: sim.errors,
        caRequests: caStats.requests,
        caMaxOpen: caStats.maxOpen,
        maxLagMs: Math.round(sim.maxLagMs),
        durationMs: Math.round(Math.max(0, sim.now - at)),
        wallMs: Math.round(wallMs),
        cpuMs: Math.round(tickCpuMs * 10) / 10,
      };
      renewed += sim.renewed;
      rows.push(row);
      onTick?.(row);
      const paced = (sim.renewed * IDLE_EVICTION_MS) / LIVE_RENEWERS - (performance.now() - t0);
      if (paced > 0) await new Promise((r) => setTimeout(r, paced));
    }
    // A copy: the RPC result's stub dies with the runtime.
    const summary = JSON.parse(JSON.stringify(await index.simSummary(end + 30 * 60_000))) as SimSummary;
    return {
      renewalLatencyMs: renewalLatencyMs(model),
      windowStart: start,
      windowEnd: end,
      certificates: total,
      dueInWindow: dueTimes.length,
      fillS: Math.round(fillS * 10) / 10,
      wallS: Math.round((performance.now() - wall0) / 100) / 10,
      workerdCpuS: Math.round((cpuNs("workerd") - cpu0) / 1e8) / 10,
      workerdRssBytes: rssBytes("workerd"),
      summary,
      rows,
    };
  } finally {
    await worker.stop();
  }
}
