/**
 * Onboarding many names through the Worker within a CA's limits (issue 26), in real time: the edgecert
 * Worker in workerd (Miniflare) with `CA_LIMITS` set, real Pebble behind Let's Encrypt's rate limits
 * (rate-limiting-ca.ts on the Worker's outbound path, windows scaled to seconds), names added through
 * the admin API (`POST /admin/certificates`, as an operator or a platform's signup flow does), the
 * cron tick run every `cronEveryMs` (the deployed Worker's is every minute: see {@link onboardThroughWorker}).
 * Used by bench/worker-onboarding.ts.
 * @module
 */
import { writeFileSync } from "node:fs";
import { rateLimitingCa, type Limit } from "./rate-limiting-ca.ts";
import { refillUse, type RefillUse } from "./refill-use.ts";
import { startWorker, type CertificateSummary, type WorkerCa, type WorkerInstance } from "./worker.ts";

/** What to onboard and under which limits. */
export interface WorkerOnboardingOptions {
  /** Names per registered domain, e.g. [150, 50] → 150 under cust0.<suffix>, 50 under cust1.<suffix>. */
  counts: number[];
  /** The CA's limits (the stand-in enforces them; the Worker's CA_LIMITS says the same). */
  limits: { orders: Limit; domain: Limit };
  /** How often the cron tick runs (ms of real time). */
  cronEveryMs: number;
  /** Gives up after this long (ms of real time): the run then reports what was issued. */
  maxWallMs: number;
  /** Registered domains are `cust<d>.<suffix>` (default `example`). */
  suffix?: string;
  /** Extra Worker variables. */
  vars?: Record<string, string>;
  /**
   * Adds the names through `POST /admin/certificates/bulk`, this many certificates a request (one
   * request after another, in the submitted order); default: one `POST /admin/certificates` per name,
   * 16 requests open.
   */
  bulk?: number;
  /** Adds the first registered domain's names after all the others' (default: before them, as a signup flow would). */
  firstDomainLast?: boolean;
  /**
   * Keeps the Durable Objects' and KV's data in files under this directory, as deployed storage is,
   * instead of in memory: then workerd can evict an idle object. In memory, every renewer object made
   * stays (one per name), and local workerd failed with SQLITE_NOMEM after ~36,000 names.
   */
  persistTo?: string;
  /** A CPU-seconds reading (e.g. workerd's), taken once the Worker runs and again before it stops. */
  cpuSeconds?: () => number;
}

/** One registered domain's outcome. */
export interface DomainOutcome {
  domain: string;
  names: number;
  issued: number;
  /** Seconds from the first name added to this domain's first / last certificate issued at the CA. */
  firstS: number;
  lastS: number;
}

/** What one run measured. */
export interface WorkerOnboardingResult {
  names: number;
  /** Certificates the CA issued (finalized). */
  issued: number;
  /** Names the Worker's admin API shows as valid at the end. */
  valid: number;
  /** newOrders the CA refused for a rate limit (429 rateLimited). */
  refusals: number;
  /** Those refusals by the limit that refused them (`orders`, or the registered domain). */
  refusedBy: Record<string, number>;
  /** newOrders the CA accepted. */
  orders: number;
  /** Seconds from the first name added to the last certificate issued. */
  elapsedS: number;
  /** Seconds the limits allow for the whole workload (each bucket's demand beyond its size at its refill rate). */
  allowedS: number;
  ratio: number;
  /** Seconds it took to add every name through the admin API. */
  addS: number;
  cronTicks: number;
  /** CPU seconds between the two {@link WorkerOnboardingOptions.cpuSeconds} readings. */
  cpuS?: number;
  perDomain: DomainOutcome[];
  /**
   * Where the excess over the allowed time went, per bucket the limits bind (test/support/refill-use.ts):
   * the account's new orders (counted at newOrder) and the largest registered domain's certificates
   * (counted at finalize), each replayed from the CA's own times, full from the first name added.
   */
  refill: { orders: RefillUse; domain: RefillUse };
  /** Certificates not valid at the end, with their last error (at most 5). */
  notValid: Array<{ names: string[]; status: string; lastError: string | null }>;
}

/** `Limit` as CA_LIMITS writes it (whole seconds). */
function limitText(l: Limit): string {
  return `${l.count}/${Math.round(l.periodMs / 1000)}s`;
}

/** Every certificate the admin API lists (paged by cursor). */
async function listAll(worker: WorkerInstance): Promise<CertificateSummary[]> {
  const all: CertificateSummary[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const res = await worker.admin(`/admin/certificates?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    const body = (await res.json()) as { certificates: CertificateSummary[]; cursor: string | null };
    all.push(...body.certificates);
    cursor = body.cursor;
    if (!cursor) break;
  }
  return all;
}

/**
 * Adds `counts` names (all of the first customer first, as a signup flow would) to a fresh Worker
 * whose CA enforces `limits`, runs its cron tick every `cronEveryMs`, and waits until every name is
 * issued or `maxWallMs` passes. Times are the CA's: when it issued each certificate.
 */
export async function onboardThroughWorker(server: WorkerCa & { validateAgainst?(url: URL): void }, options: WorkerOnboardingOptions): Promise<WorkerOnboardingResult> {
  const suffix = options.suffix ?? "example";
  const { orders, domain } = options.limits;
  const ca = rateLimitingCa(server.fetch, { now: Date.now, ordersPerAccount: orders, certificatesPerDomain: domain });
  const worker = await startWorker(server, {
    vars: { CA_LIMITS: `orders=${limitText(orders)},domain=${limitText(domain)}`, ...options.vars },
    outbound: (request) => ca.fetch(request),
    ...(options.persistTo ? { persistTo: options.persistTo } : {}),
  });
  server.validateAgainst?.(worker.url);
  const domains = options.counts.map((n, d) => Array.from({ length: n }, (_, i) => `n${i}.cust${d}.${suffix}`));
  const names = options.firstDomainLast ? [...domains.slice(1), domains[0] ?? []].flat() : domains.flat();
  const ticks: Array<Promise<void>> = [];
  const tickAt: number[] = [];
  let stopTicks = false;
  let tickTimer: NodeJS.Timeout | undefined;
  try {
    const cpu0 = options.cpuSeconds?.();
    const start = Date.now();
    // The cron trigger fires on its schedule from the start, whether or not names are still being added
    // or the last tick is done (ticks may overlap).
    const tickLoop = () => {
      if (stopTicks) return;
      tickAt.push(Date.now());
      ticks.push(worker.cron(Date.now()).catch(() => undefined));
      tickTimer = setTimeout(tickLoop, options.cronEveryMs);
    };
    tickTimer = setTimeout(tickLoop, options.cronEveryMs);
    // All at once, as the workload asks (16 requests open, in the submitted order: the first
    // customer's names first); each POST starts its first attempt at once (waitUntil).
    let next = 0;
    const addLane = async () => {
      while (next < names.length) {
        const name = names[next++]!;
        // Adding is idempotent (202 created, 200 already there): a dropped connection is tried again.
        let res: Response | undefined;
        for (let attempt = 1; !res; attempt++) {
          res = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) }).catch((err: unknown) => {
            if (attempt >= 3) throw err;
            return undefined;
          });
        }
        if (res.status !== 202 && res.status !== 200) throw new Error(`POST /admin/certificates ${name}: ${res.status} ${await res.text()}`);
      }
    };
    const addBulk = async () => {
      for (let i = 0; i < names.length; i += options.bulk!) {
        const certificates = names.slice(i, i + options.bulk!).map((n) => ({ names: [n] }));
        const res = await worker.admin("/admin/certificates/bulk", { method: "POST", body: JSON.stringify({ certificates }) });
        if (res.status !== 202 && res.status !== 200) throw new Error(`POST /admin/certificates/bulk: ${res.status} ${await res.text()}`);
      }
    };
    if (options.bulk) await addBulk();
    else await Promise.all(Array.from({ length: 16 }, addLane));
    const addS = (Date.now() - start) / 1000;
    const issued = () => ca.events.filter((e) => e.kind === "finalize").length;
    while (issued() < names.length && Date.now() - start < options.maxWallMs) await new Promise((r) => setTimeout(r, 250));
    stopTicks = true;
    clearTimeout(tickTimer);
    await Promise.all(ticks);
    const cpuS = cpu0 !== undefined && options.cpuSeconds ? options.cpuSeconds() - cpu0 : undefined;
    const finals = ca.events.filter((e) => e.kind === "finalize");
    const endedAt = finals.reduce((latest, e) => Math.max(latest, e.at), start);
    const allowedMs = Math.max(
      ((names.length - orders.count) * orders.periodMs) / orders.count,
      ...options.counts.map((n) => ((n - domain.count) * domain.periodMs) / domain.count),
    );
    const listed = await listAll(worker);
    // Every newOrder and finalize the CA saw, the ticks and the start, for a closer look at a run.
    if (process.env.BENCH_WORKER_ONBOARDING_EVENTS) writeFileSync(process.env.BENCH_WORKER_ONBOARDING_EVENTS, JSON.stringify({ start, addS, tickAt, events: ca.events }));
    const largest = options.counts.indexOf(Math.max(...options.counts));
    const refill = {
      orders: refillUse(ca.events.filter((e) => e.kind === "newOrder" && !e.refused).map((e) => e.at), orders.count, orders.periodMs, start),
      domain: refillUse(finals.filter((e) => e.names[0]!.endsWith(`.cust${largest}.${suffix}`)).map((e) => e.at), domain.count, domain.periodMs, start),
    };
    // One pass over the certificates (100,000 of them over 10,000 domains in the largest run).
    const byDomain = new Map<string, { issued: number; first: number; last: number }>();
    for (const e of finals) {
      const d = e.names[0]!.slice(e.names[0]!.indexOf(".") + 1);
      const o = byDomain.get(d) ?? { issued: 0, first: Infinity, last: -Infinity };
      byDomain.set(d, { issued: o.issued + 1, first: Math.min(o.first, e.at), last: Math.max(o.last, e.at) });
    }
    const perDomain = domains.map((list, d): DomainOutcome => {
      const o = byDomain.get(`cust${d}.${suffix}`);
      return { domain: `cust${d}.${suffix}`, names: list.length, issued: o?.issued ?? 0, firstS: o ? (o.first - start) / 1000 : NaN, lastS: o ? (o.last - start) / 1000 : NaN };
    });
    return {
      names: names.length,
      issued: finals.length,
      valid: listed.filter((c) => c.status === "valid").length,
      refusals: ca.refusals().length,
      refusedBy: ca.refusals().reduce<Record<string, number>>((by, e) => {
        const key = /for "([^"]+)"/.exec(e.refused!)?.[1] ?? (e.refused!.includes("new orders") ? "orders" : "other");
        by[key] = (by[key] ?? 0) + 1;
        return by;
      }, {}),
      orders: ca.events.filter((e) => e.kind === "newOrder" && !e.refused).length,
      elapsedS: (endedAt - start) / 1000,
      allowedS: allowedMs / 1000,
      ratio: (endedAt - start) / allowedMs,
      addS,
      cronTicks: ticks.length,
      ...(cpuS !== undefined ? { cpuS } : {}),
      perDomain,
      refill,
      notValid: listed.filter((c) => c.status !== "valid").slice(0, 5).map((c) => ({ names: c.names, status: c.status, lastError: c.lastError })),
    };
  } finally {
    stopTicks = true;
    clearTimeout(tickTimer);
    await Promise.allSettled(ticks);
    await worker.stop();
  }
}
