import { EdgecertError } from "../errors.ts";
import type { BucketKind, BucketRef, BudgetRequest, FleetBudget } from "./fleet-budget.ts";

/** An order waiting for the budget. */
export interface AdmissionRequest extends BudgetRequest {
  /** The certificate's id (for views and events). */
  readonly id: string;
  /** For a renewal, the current certificate's expiry (epoch ms): renewals go first, soonest expiry first. */
  readonly expiresAt?: number;
}

/** A queued order as views show it (admin API, dashboard, `edgecert list`, the `queued` event). */
export interface QueuedOrder {
  /** The certificate's id. */
  readonly id: string;
  /** Its names. */
  readonly names: readonly string[];
  /** 1 = next to go. */
  readonly position: number;
  /** When it is expected to be sent (epoch ms): an estimate from the blocking bucket and the queue ahead. */
  readonly estimatedAt: number;
  /** A renewal (it goes before first issuances). */
  readonly renewal: boolean;
  /** The registered domain it is queued under (fair turns are taken per registered domain). */
  readonly registeredDomain: string;
  /** The bucket that holds it back, and until when. */
  readonly blockedBy?: { readonly kind: BucketKind; readonly subject: string; readonly retryAt: number };
}

/**
 * The CA's budget holds an order back for longer than its caller would wait: nothing was sent.
 * `retryAfterMs` says when the blocking bucket holds a token again (the manager's failure state waits that long).
 */
export class BudgetSpentError extends EdgecertError {
  /** How long until the blocking bucket holds a token again, in ms. */
  readonly retryAfterMs: number;
  /** The bucket that holds the order back, and until when. */
  readonly blockedBy: { readonly kind: BucketKind; readonly subject: string; readonly retryAt: number };

  /** An error for `names`, held back by `blockedBy`, seen at `now`. */
  constructor(names: readonly string[], blockedBy: { readonly kind: BucketKind; readonly subject: string; readonly retryAt: number }, now: number) {
    super(
      "budget_spent",
      `the CA's ${blockedBy.kind === "orders" ? "new-order" : blockedBy.kind === "domain" ? "registered-domain" : "name-set"} limit for ${blockedBy.subject} is spent until ${new Date(blockedBy.retryAt).toISOString()}: ${names.join(", ")} waits for it (nothing was sent to the CA)`,
    );
    this.name = "BudgetSpentError";
    this.blockedBy = blockedBy;
    this.retryAfterMs = Math.max(0, blockedBy.retryAt - now);
  }
}

/** Options for {@link FairQueue}. */
export interface FairQueueOptions {
  /** Clock (tests). Default `Date.now`. */
  readonly now?: () => number;
  /** Waits `ms`, or less when `signal` fires (tests drive time). Default: a timer. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called when an order first has to wait, with its place in the queue. */
  readonly onQueued?: (order: QueuedOrder) => void;
}

interface Waiter {
  readonly request: AdmissionRequest;
  readonly refs: readonly BucketRef[];
  readonly domain: string;
  readonly signal: AbortSignal | undefined;
  /** Latest time it may be sent (epoch ms): a wait beyond it is refused instead of waited out. */
  readonly deadline: number;
  readonly resolve: (spent: readonly BucketRef[]) => void;
  readonly reject: (error: unknown) => void;
  blockedBy?: QueuedOrder["blockedBy"];
  announced: boolean;
  seq: number;
}

const LONGEST_SLEEP_MS = 60_000;

function timerSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Lets orders through the {@link FleetBudget} in a fair order, waiting (never sending) while the
 * budget is spent: renewals first, the soonest to expire first; then first issuances in turns across
 * registered domains, so a customer with 10,000 names does not hold back a customer with one. An
 * empty bucket of one registered domain holds back only that domain's orders; an empty account
 * bucket holds back that account's. One queue per process: processes sharing a storage share the
 * budget, and each takes its own turns.
 */
export class FairQueue {
  private readonly waiters = new Set<Waiter>();
  /** Registered domains in turn order: the one served last goes to the back. */
  private readonly turns: string[] = [];
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly onQueued: ((order: QueuedOrder) => void) | undefined;
  private running = false;
  private wake = new AbortController();
  private seq = 0;

  /** A queue over `budget`, with its clock and event hook. */
  constructor(
    private readonly budget: FleetBudget,
    options: FairQueueOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? timerSleep;
    this.onQueued = options.onQueued;
  }

  /**
   * Resolves once the budget has been spent for `request` (with the buckets spent, to give back if
   * the order is never sent); waits while it is not. Rejects with `aborted` when `signal` fires, and
   * with the storage's error when the budget cannot be read or written.
   */
  async admit(request: AdmissionRequest, signal?: AbortSignal, maxWaitMs = Infinity): Promise<readonly BucketRef[]> {
    if (signal?.aborted) throw new EdgecertError("aborted", `waiting for the CA budget for ${request.names.join(", ")} was aborted`);
    const refs = await this.budget.bucketsFor(request);
    if (refs.length === 0) return refs;
    const domain = this.budget.registeredDomain(request.names[0] ?? request.id);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { request, refs, domain, signal, deadline: this.now() + maxWaitMs, resolve, reject, announced: false, seq: this.seq++ };
      this.waiters.add(waiter);
      if (!this.turns.includes(domain)) this.turns.push(domain);
      signal?.addEventListener("abort", () => this.poke(), { once: true });
      this.poke();
    });
  }

  /** The orders waiting now, in the order they will go. */
  queued(): QueuedOrder[] {
    return this.ordered().map((w, i) => this.view(w, i + 1));
  }

  /** Wakes the loop (a new order, an abort), starting it when idle. */
  private poke(): void {
    this.wake.abort();
    if (this.running) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      if (this.waiters.size > 0) this.poke();
    });
  }

  /** Grants what the budget allows, in fair order, and sleeps until the earliest blocking bucket refills. */
  private async run(): Promise<void> {
    while (this.waiters.size > 0) {
      this.wake = new AbortController();
      const blockedKeys = new Set<string>();
      let earliest = Infinity;
      let granted = false;
      let critical: ReadonlySet<string>;
      try {
        critical = await this.criticalDomains();
      } catch {
        critical = new Set();
      }
      for (const waiter of this.ordered(critical)) {
        if (waiter.signal?.aborted) {
          this.waiters.delete(waiter);
          waiter.reject(new EdgecertError("aborted", `waiting for the CA budget for ${waiter.request.names.join(", ")} was aborted`));
          continue;
        }
        const held = waiter.refs.find((r) => blockedKeys.has(r.key));
        if (held) continue;
        let decision;
        try {
          decision = await this.budget.trySpend(waiter.request);
        } catch (err) {
          this.waiters.delete(waiter);
          waiter.reject(err);
          continue;
        }
        if (decision.granted) {
          this.waiters.delete(waiter);
          this.turns.splice(this.turns.indexOf(waiter.domain), 1);
          if ([...this.waiters].some((w) => w.domain === waiter.domain)) this.turns.push(waiter.domain);
          waiter.resolve(decision.spent);
          granted = true;
          break; // Start again from the top: a renewal may have arrived, and turns moved.
        }
        const worst = decision.blocked.reduce((a, b) => (b.retryAt > a.retryAt ? b : a));
        waiter.blockedBy = { kind: worst.bucket.kind, subject: worst.bucket.subject, retryAt: worst.retryAt };
        if (worst.retryAt > waiter.deadline) {
          // Too long to wait here (a Worker invocation cannot sleep for hours): the caller records when to come back.
          this.waiters.delete(waiter);
          waiter.reject(new BudgetSpentError(waiter.request.names, waiter.blockedBy, this.now()));
        }
        for (const b of decision.blocked) {
          blockedKeys.add(b.bucket.key);
          earliest = Math.min(earliest, b.retryAt);
        }
      }
      if (granted || this.waiters.size === 0) continue;
      this.announce();
      const wait = Math.min(LONGEST_SLEEP_MS, Math.max(1, (Number.isFinite(earliest) ? earliest : this.now() + LONGEST_SLEEP_MS) - this.now()));
      await this.sleep(wait, this.wake.signal);
    }
  }

  /** Tells `onQueued` about orders that wait for the first time. */
  private announce(): void {
    const order = this.ordered();
    order.forEach((w, i) => {
      if (w.announced) return;
      w.announced = true;
      this.onQueued?.(this.view(w, i + 1));
    });
  }

  /**
   * Registered domains whose own bucket decides when the queue can be done: their remaining orders
   * need at least as long at their domain's refill rate as the whole queue needs at the account's. They
   * go first whenever their bucket holds a token, so its refill is never wasted while it sits full; the
   * rest take turns with what the account bucket has left. (Pure turns would let the largest customer's
   * full bucket idle while others are served, and finish the queue later than the limits allow.)
   */
  private async criticalDomains(): Promise<Set<string>> {
    const demand = new Map<string, { count: number; sample: Waiter }>();
    let total = 0;
    for (const w of this.waiters) {
      if (w.request.expiresAt !== undefined) continue;
      total++;
      const d = demand.get(w.domain);
      if (d) d.count++;
      else demand.set(w.domain, { count: 1, sample: w });
    }
    const critical = new Set<string>();
    if (demand.size < 2) return critical;
    const first = [...demand.values()][0]!.sample;
    const [account] = await this.budget.view({ ...first.request, names: [] }).then((v) => v.filter((b) => b.kind === "orders"));
    const accountNeed = account ? Math.max(0, total - account.available) * (account.limit.periodMs / account.limit.count) : 0;
    const needs = await Promise.all(
      [...demand].map(async ([domain, { count, sample }]) => {
        const ref = sample.refs.find((r) => r.kind === "domain" && r.subject === domain);
        if (!ref) return { domain, need: 0 };
        const [view] = (await this.budget.view({ ...sample.request, names: [domain] })).filter((b) => b.kind === "domain");
        return { domain, need: Math.max(0, count - (view?.available ?? 0)) * (ref.limit.periodMs / ref.limit.count) };
      }),
    );
    const bound = Math.max(accountNeed, ...needs.map((n) => n.need));
    for (const { domain, need } of needs) if (need > 0 && need >= 0.9 * bound) critical.add(domain);
    return critical;
  }

  /**
   * Renewals by expiry; then first issuances of critical domains ({@link criticalDomains}); then the
   * others, one per registered domain per turn, in turn order.
   */
  private ordered(critical: ReadonlySet<string> = new Set()): Waiter[] {
    const all = [...this.waiters].sort((a, b) => a.seq - b.seq);
    const renewals = all.filter((w) => w.request.expiresAt !== undefined).sort((a, b) => a.request.expiresAt! - b.request.expiresAt! || a.seq - b.seq);
    const byDomain = new Map<string, Waiter[]>();
    for (const w of all) {
      if (w.request.expiresAt !== undefined) continue;
      const list = byDomain.get(w.domain) ?? [];
      list.push(w);
      byDomain.set(w.domain, list);
    }
    const interleave = (domains: string[]): Waiter[] => {
      const lists = domains.map((d) => byDomain.get(d) ?? []).filter((l) => l.length > 0);
      const out: Waiter[] = [];
      for (let round = 0; lists.some((l) => round < l.length); round++) for (const list of lists) if (round < list.length) out.push(list[round]!);
      return out;
    };
    return [...renewals, ...interleave(this.turns.filter((d) => critical.has(d))), ...interleave(this.turns.filter((d) => !critical.has(d)))];
  }

  /** How waiter `w` shows in views, at `position`. */
  private view(w: Waiter, position: number): QueuedOrder {
    const now = this.now();
    const orders = w.refs.find((r) => r.kind === "orders");
    const interval = orders ? orders.limit.periodMs / orders.limit.count : 0;
    const estimatedAt = Math.max(w.blockedBy?.retryAt ?? now, now + (position - 1) * interval);
    const view: QueuedOrder = { id: w.request.id, names: w.request.names, position, estimatedAt, renewal: w.request.expiresAt !== undefined, registeredDomain: w.domain };
    return w.blockedBy ? { ...view, blockedBy: w.blockedBy } : view;
  }
}
