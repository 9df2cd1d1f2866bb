import { caLimitsFor, type CaLimits, type RateLimit } from "../budget/ca-limits.ts";
import { FairQueue, type AdmissionRequest, type QueuedOrder } from "../budget/fair-queue.ts";
import { FleetBudget, type BucketKind, type BucketRef } from "../budget/fleet-budget.ts";
import { fleetQueue } from "../budget/fleet-queue-view.ts";
import { rateLimitRefusalOf } from "../budget/rate-limit-refusal.ts";
import type { Logger } from "../logger.ts";
import type { Storage } from "../storage/storage.ts";
import { issuerKey } from "./storage-keys.ts";

/** An order let through the budget: what it spent, to give back when it is not sent after all. */
export interface Admission {
  readonly directoryUrl: string;
  readonly request: AdmissionRequest;
  readonly spent: readonly BucketRef[];
}

/**
 * Where orders wait for a CA's budget: by default this process's {@link FairQueue}; a deployment can
 * hand every process's orders to one queue (the Worker: one Durable Object), so the turns across
 * registered domains are taken by all of them together. `FairQueue` is one.
 */
export interface BudgetQueue {
  /**
   * Resolves with the buckets spent for `request` (to give back if its order is never sent); waits
   * while the budget is spent, at most `maxWaitMs`, then rejects with `BudgetSpentError`.
   */
  admit(request: AdmissionRequest, signal?: AbortSignal, maxWaitMs?: number): Promise<readonly BucketRef[]>;
  /** The orders waiting, as far as this process sees them (views, the `certificate_queued` event). */
  queued(): QueuedOrder[];
  /** How many orders of this process wait now. */
  readonly size: number;
}

/** Options for {@link CaBudgets}. */
export interface CaBudgetsOptions {
  readonly storage: Storage;
  /** The primary CA's directory URL, and its limits: `false` for none, undefined for {@link caLimitsFor}. */
  readonly primary: string;
  readonly caLimits: CaLimits | false | undefined;
  readonly now: () => number;
  /** The queue's timer (default: a timer). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly logger: Logger;
  readonly onQueued: (order: QueuedOrder, directoryUrl: string) => void;
  /** Longest wait in the queue; beyond it admission fails with `BudgetSpentError`. Default: no limit. */
  readonly maxWaitMs?: number;
  /** The queue of a CA's budget instead of this process's own {@link FairQueue} (undefined: its own). */
  readonly queue?: (directoryUrl: string, budget: FleetBudget) => BudgetQueue | undefined;
}

const MIN_PAUSE_MS = 1000;

/** The longest window of any limit a CA publishes (Let's Encrypt's per-week limits). */
const LONGEST_PAUSE_MS = 7 * 24 * 3_600_000;

/**
 * How long a refusal pauses a bucket: the CA's `Retry-After` (RFC 9110 §10.2.3), else one token's
 * refill; at least {@link MIN_PAUSE_MS}, and at most a week or the bucket's period when longer. The
 * CA's word counts over the configured limits (they may be smaller than its own), but no rate limit
 * means years: such a wait — or a header's digits beyond a double's range, Infinity, which a stored
 * record cannot even hold — is a CA's or proxy's error that would stop the fleet's orders on this
 * bucket for good. Past the bound one order probes the CA, and a refusal pauses it again.
 */
function pauseMs(limit: RateLimit, retryAfterMs: number | undefined): number {
  const longest = Math.max(LONGEST_PAUSE_MS, limit.periodMs);
  const asked = retryAfterMs ?? limit.periodMs / limit.count;
  return Number.isNaN(asked) ? longest : Math.min(longest, Math.max(MIN_PAUSE_MS, asked));
}

/**
 * The fleet-wide budget of each CA the manager orders from (ARCHITECTURE.md invariant 10), with one
 * {@link FairQueue} per CA in this process. A CA without limits (neither configured nor published, see
 * {@link caLimitsFor}) has no budget: its orders go at once, as before.
 */
export class CaBudgets {
  readonly #byCa = new Map<string, { budget: FleetBudget; queue: BudgetQueue } | undefined>();

  constructor(private readonly options: CaBudgetsOptions) {}

  /** The budget and queue for a CA, or undefined when it has no limits. */
  for(directoryUrl: string): { budget: FleetBudget; queue: BudgetQueue } | undefined {
    if (this.#byCa.has(directoryUrl)) return this.#byCa.get(directoryUrl);
    const { options } = this;
    const limits = directoryUrl === options.primary && options.caLimits !== undefined ? options.caLimits || undefined : caLimitsFor(directoryUrl);
    const hasAny = limits && (limits.newOrdersPerAccount || limits.certificatesPerRegisteredDomain || limits.certificatesPerNameSet);
    let entry: { budget: FleetBudget; queue: BudgetQueue } | undefined;
    if (limits && hasAny) {
      const budget = new FleetBudget({ storage: options.storage, limits, ca: issuerKey(directoryUrl), now: options.now });
      const queue =
        options.queue?.(directoryUrl, budget) ??
        new FairQueue(budget, { now: options.now, ...(options.sleep ? { sleep: options.sleep } : {}), onQueued: (order) => options.onQueued(order, directoryUrl) });
      entry = { budget, queue };
    }
    this.#byCa.set(directoryUrl, entry);
    return entry;
  }

  /** Waits for the budget of `directoryUrl` (renewals first, then turns by registered domain). */
  async admit(directoryUrl: string, request: AdmissionRequest, signal?: AbortSignal): Promise<Admission | undefined> {
    const entry = this.for(directoryUrl);
    if (!entry) return undefined;
    const spent = await entry.queue.admit(request, signal, this.options.maxWaitMs);
    return { directoryUrl, request, spent };
  }

  /** Gives an admission's tokens back: its order was not sent (another process had issued, an order was resumed). */
  async giveBack(admission: Admission | undefined): Promise<void> {
    if (!admission || admission.spent.length === 0) return;
    const entry = this.for(admission.directoryUrl);
    await entry?.budget.giveBack(admission.spent).catch((err: unknown) => this.options.logger.log("warn", "manager.budget_give_back_failed", { error: String(err) }));
  }

  /**
   * An admitted order's request is about to be sent: its buckets of `kinds` count from now (see
   * `FleetBudget.sending`). A storage failure is logged: the spend stays counted from its admission.
   */
  async sending(admission: Admission | undefined, kinds: readonly BucketKind[]): Promise<void> {
    if (!admission || admission.spent.length === 0) return;
    const entry = this.for(admission.directoryUrl);
    await entry?.budget.sending(admission.spent, kinds).catch((err: unknown) => this.options.logger.log("warn", "manager.budget_sending_failed", { error: String(err) }));
  }

  /**
   * An admitted order's request was answered: its buckets of `kinds` count from no earlier than now
   * (see `FleetBudget.sent`). A storage failure is logged, as for {@link sending}.
   */
  async sent(admission: Admission | undefined, kinds: readonly BucketKind[]): Promise<void> {
    if (!admission || admission.spent.length === 0) return;
    const entry = this.for(admission.directoryUrl);
    await entry?.budget.sent(admission.spent, kinds).catch((err: unknown) => this.options.logger.log("warn", "manager.budget_sent_failed", { error: String(err) }));
  }

  /**
   * After a CA's rate-limit refusal: pauses the bucket it speaks of for the whole fleet until its
   * `Retry-After` (at least one token's refill when it sent none). Other errors are ignored.
   */
  async refused(directoryUrl: string, request: AdmissionRequest, error: unknown): Promise<void> {
    const refusal = rateLimitRefusalOf(error);
    const entry = this.for(directoryUrl);
    if (!refusal || !entry) return;
    const { budget } = entry;
    const subjects =
      refusal.kind === "orders"
        ? [request.account]
        : refusal.kind === "nameset"
          ? [request.nameSetId]
          : refusal.domain
            ? [await budget.registeredDomain(refusal.domain)]
            : [...new Set(await Promise.all(request.names.map((n) => budget.registeredDomain(n))))];
    for (const subject of subjects) {
      const ref = await budget.bucket(refusal.kind, subject);
      if (!ref) continue;
      const until = this.options.now() + pauseMs(ref.limit, refusal.retryAfterMs);
      await budget.pause(ref, until, refusal.pauseOnly !== true).catch((err: unknown) => this.options.logger.log("warn", "manager.budget_pause_failed", { error: String(err) }));
      this.options.logger.log("warn", "manager.budget_paused", { kind: refusal.kind, subject, until: new Date(until).toISOString() });
    }
  }

  /** How many orders wait in this process (all CAs). */
  queuedCount(): number {
    let n = 0;
    for (const entry of this.#byCa.values()) n += entry?.queue.size ?? 0;
    return n;
  }

  /** Orders waiting for `directoryUrl`'s budget in the whole fleet sharing this storage (see `fleetQueue`); none for a CA without limits. */
  async fleetQueued(directoryUrl: string): Promise<{ orders: Array<QueuedOrder & { readonly directoryUrl: string }>; total: number }> {
    const entry = this.for(directoryUrl);
    if (!entry) return { orders: [], total: 0 };
    const queue = await fleetQueue(entry.budget, { now: this.options.now() });
    return { orders: queue.orders.map((q) => ({ ...q, directoryUrl })), total: queue.total };
  }

  /** Orders waiting in this process, per CA. */
  queued(): Array<QueuedOrder & { readonly directoryUrl: string }> {
    return [...this.#byCa].flatMap(([directoryUrl, entry]) => (entry ? entry.queue.queued().map((q) => ({ ...q, directoryUrl })) : []));
  }
}
