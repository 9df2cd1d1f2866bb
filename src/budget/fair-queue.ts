import { EdgecertError } from "../errors.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import { BudgetSnapshot } from "./budget-snapshot.ts";
import type { BucketKind, BucketRef, BudgetRequest, FleetBudget } from "./fleet-budget.ts";
import { decodeNumber, decodeProcess, encodeOrder, encodeProcess, QueueLayout, turnOrder } from "./queue-records.ts";
import { QueueWalk, type Blocked, type StoredProcess } from "./queue-walk.ts";

/** An order waiting for the budget. */
export interface AdmissionRequest extends BudgetRequest {
  /** The certificate's id (for views and events). */
  readonly id: string;
  /** For a renewal, the current certificate's expiry (epoch ms): renewals go first, soonest expiry first. */
  readonly expiresAt?: number;
  /**
   * A further newOrder of an issuance under way (after a challenge-type fallback, or sent again
   * without `replaces`): it waits with the renewals (by `expiresAt`, at most now) to finish what was
   * started, but views call it a retry, not a renewal.
   */
  readonly retry?: boolean;
}

/** What a queued order is: a renewal, a first issuance, or a further newOrder of an issuance under way. */
export type QueuedKind = "renewal" | "first" | "retry";

/** An order's {@link QueuedKind}. */
export function queuedKind(order: { readonly expiresAt?: number | undefined; readonly retry?: boolean | undefined }): QueuedKind {
  return order.retry ? "retry" : order.expiresAt !== undefined ? "renewal" : "first";
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
  /** A renewal (it goes before first issuances); false for a retry (see `kind`). */
  readonly renewal: boolean;
  /** A renewal, a first issuance, or a retry: a further newOrder of an issuance under way, which waits with the renewals. */
  readonly kind: QueuedKind;
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
  /**
   * How long this process's place in the shared queue outlives its last renewal (by the budget's
   * clock; renewed at half of it while orders wait). A process that dies holds the orders behind it
   * back for at most this long. Default 30 000 ms.
   */
  readonly leaseMs?: number;
  /**
   * Least time between two walks of the queue by this process (by the budget's clock), except when
   * new orders arrive: tokens that refill meanwhile are handed out together, in order — the same
   * throughput while a bucket is not full, at most this much later per order, and one walk per
   * period instead of one per token in a busy fleet. Default 1 000 ms.
   */
  readonly batchMs?: number;
}

interface Waiter {
  /** Its number in this process (part of its entry's key). */
  readonly n: string;
  readonly request: AdmissionRequest;
  readonly refs: readonly BucketRef[];
  readonly domain: string;
  readonly domainId: string;
  readonly signal: AbortSignal | undefined;
  /** Latest time it may be sent (epoch ms): a wait beyond it is refused instead of waited out. */
  readonly deadline: number;
  readonly resolve: (spent: readonly BucketRef[]) => void;
  readonly reject: (error: unknown) => void;
  readonly seq: number;
  /** Its turn (first issuances, once in the shared queue). */
  turn?: number;
  /** The key of its entry in the shared queue, once written. */
  key?: string;
  blockedBy?: QueuedOrder["blockedBy"];
}

const LONGEST_SLEEP_MS = 60_000;
/**
 * New orders are written to the queue at once, but the first walk after them waits this long (by
 * the budget's clock): orders submitted together — in this process and in others — are all in the
 * queue before tokens are handed out, so a full bucket goes in turns rather than to whichever order
 * reached the queue first.
 */
const SETTLE_MS = 50;
/** Domains a process record names with their demand (the largest ones: only those can be critical). */
const HEAVY_DOMAINS = 32;
/** Attempts at one compare-and-set on a queue record before giving up. */
const MAX_CAS_ATTEMPTS = 16;
/** A walk that chose an order of ours and lost its spend to another process is retried at once this many times, then after a pause. */
const MAX_LOST_SPENDS = 3;

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

const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;

/** Goes on after one turn of the event loop (timers that are due run first). */
function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}

function randomId(): string {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(9)));
}

/**
 * Lets orders through the {@link FleetBudget} in one fair order for the whole fleet, waiting (never
 * sending) while the budget is spent: renewals first, the soonest to expire first; then first
 * issuances in turns across registered domains, so a customer with 10,000 names does not hold back a
 * customer with one; a domain whose own limit decides when the queue can finish goes first whenever it
 * holds a token (pure turns would leave the largest customer's bucket full and idle).
 *
 * The queue lives in the budget's storage (see `QueueLayout`), beside the buckets: each waiting order
 * is a record, each process with orders waiting holds a lease on its place. Every process walks the
 * same records in the same order on a snapshot of the buckets (`QueueWalk`) and spends — by the
 * budget's compare-and-set — only for its own orders the walk reached with tokens to spare, so the
 * tokens go in the same order whichever process holds an order. The budget alone guards the limits:
 * nothing here can spend beyond it. A process that dies holds its orders' place until its lease lapses
 * ({@link FairQueueOptions.leaseMs}); then the next walk removes them. When nothing waits anywhere, an
 * order spends at once without writing to the queue.
 */
export class FairQueue {
  private readonly layout: QueueLayout;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly onQueued: ((order: QueuedOrder) => void) | undefined;
  private readonly leaseMs: number;
  private readonly batchMs: number;
  readonly #waiters = new Map<string, Waiter>();
  readonly #unpublished = new Set<Waiter>();
  readonly #aborted = new Set<Waiter>();
  readonly #bounded = new Set<Waiter>();
  /** First issuances waiting here, by registered domain id. */
  readonly #demand = new Map<string, number>();
  /** Their sum. */
  #firstIssuances = 0;
  #process = randomId();
  /** Our record as last written: its version (for compare-and-set), lease and demand. */
  #record: { version: string; until: number; total: number } | undefined;
  #running = false;
  #fastPath = false;
  #wake = new AbortController();
  #seq = 0;
  /** Waiters not yet announced to `onQueued` (only those get their own buckets' wait computed after a walk). */
  readonly #unannounced = new Set<Waiter>();
  #lostSpends = 0;
  #turn = 0;
  /** The next walk waits for orders submitted with the newest ones until then (see SETTLE_MS). */
  #settleUntil: number | undefined;
  /** The last walk's domains whose own limit binds (see `WalkResult.critical`): views put their orders first, as the walk serves them. */
  #critical: readonly string[] = [];
  /** First issuances on their way here, by registered domain id, and all of them (see {@link FairQueue.setBacklog}). */
  #backlog: { total: number; byDomain: ReadonlyMap<string, number> } | undefined;
  /** The backlog changed since our record was written: the next write is due whatever the demand. */
  #backlogMoved = false;

  /** A queue over `budget`, with its clock and event hook. */
  constructor(
    private readonly budget: FleetBudget,
    options: FairQueueOptions = {},
  ) {
    this.layout = new QueueLayout(budget);
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? timerSleep;
    this.onQueued = options.onQueued;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.batchMs = options.batchMs ?? 1000;
  }

  /**
   * First issuances that will come to this queue but are not submitted yet — all of them (`total`, with
   * those waiting here) and the largest registered domains' — as a caller that submits only part of its
   * backlog at a time knows them (the Worker's renewal index holds first issuances back for its queue's
   * bound). Which domain's own limit decides when the queue can finish is judged on them: judged on the
   * orders waiting here, a window of a few hundred, the largest customer — 3,000 of 10,000 names, its
   * bucket binding as much as the account's — went in turns behind every other customer whenever its
   * share of the window was small, and its bucket sat full for 110 s of 552 (1.25× the time the limits
   * allow, through the Worker). Published with this queue's demand, as other processes' is; each
   * figure counts as at least the orders waiting here. A count that is not a whole number from 0 is an
   * `invalid_input` error, and the backlog stays as it was (published, a count that is not a number
   * would make this queue's record unreadable to every process, its orders those of a dead one).
   */
  async setBacklog(backlog: { total: number; byDomain: ReadonlyMap<string, number> } | undefined): Promise<void> {
    if (!backlog) {
      this.#backlog = undefined;
      this.#backlogMoved = true;
      return;
    }
    const count = (n: unknown, field: string): number => {
      if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) return n;
      throw new EdgecertError("invalid_input", `setBacklog: ${field} must be a whole number from 0, got ${String(n).slice(0, 40)}`);
    };
    const total = count(backlog.total, "total");
    const byDomain = new Map<string, number>();
    for (const [domain, n] of backlog.byDomain) byDomain.set(await this.budget.subjectId("domain", domain), count(n, `byDomain(${String(domain).slice(0, 60)})`));
    this.#backlog = { total, byDomain };
    this.#backlogMoved = true;
  }

  /**
   * Resolves once the budget has been spent for `request` (with the buckets spent, to give back if
   * the order is never sent); waits while it is not. Rejects with `aborted` when `signal` fires, with
   * {@link BudgetSpentError} when it would wait beyond `maxWaitMs`, and with the storage's error when
   * the budget or the queue cannot be read or written.
   */
  async admit(request: AdmissionRequest, signal?: AbortSignal, maxWaitMs = Infinity): Promise<readonly BucketRef[]> {
    if (signal?.aborted) throw abortedError(request);
    const refs = await this.budget.bucketsFor(request);
    if (refs.length === 0) return refs;
    if (this.#waiters.size === 0 && !this.#fastPath) {
      // Nothing waits anywhere: no turn to take.
      this.#fastPath = true;
      try {
        if (await this.#sharedQueueEmpty()) {
          const decision = await this.budget.trySpend(request);
          if (decision.granted) return decision.spent;
        }
      } finally {
        this.#fastPath = false;
      }
    }
    const domain = await this.budget.registeredDomain(request.names[0] ?? request.id);
    const domainId = await this.budget.subjectId("domain", domain);
    return new Promise((resolve, reject) => {
      const seq = this.#seq++;
      const waiter: Waiter = { n: seq.toString(36), request, refs, domain, domainId, signal, deadline: this.now() + maxWaitMs, resolve, reject, seq };
      this.#waiters.set(waiter.n, waiter);
      this.#unpublished.add(waiter);
      if (this.onQueued) this.#unannounced.add(waiter);
      if (Number.isFinite(waiter.deadline)) this.#bounded.add(waiter);
      this.#settleUntil ??= this.now() + SETTLE_MS;
      if (request.expiresAt === undefined) {
        this.#demand.set(domainId, (this.#demand.get(domainId) ?? 0) + 1);
        this.#firstIssuances++;
      }
      signal?.addEventListener(
        "abort",
        () => {
          this.#aborted.add(waiter);
          this.#poke();
        },
        { once: true },
      );
      this.#poke();
    });
  }

  /**
   * Walks the queue again now instead of at the time the last walk computed. That time comes from the
   * buckets as they were read: tokens given back (an admitted order that was not sent) or spends
   * counted again elsewhere change them without this queue's knowledge.
   */
  wake(): void {
    if (this.#waiters.size > 0) this.#poke();
  }

  /** How many orders of this process wait now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** This process's orders waiting now, in the order they will go. */
  queued(): QueuedOrder[] {
    return this.#views().map(({ view }) => view);
  }

  /** Wakes the loop (a new order, an abort), starting it when idle. */
  #poke(): void {
    this.#wake.abort();
    if (this.#running) return;
    this.#running = true;
    void this.#run().finally(() => {
      this.#running = false;
      if (this.#waiters.size > 0) this.#poke();
    });
  }

  /** Writes new orders to the shared queue, walks it, spends for ours, and sleeps until the walk's answer may change. */
  async #run(): Promise<void> {
    while (this.#waiters.size > 0) {
      this.#wake = new AbortController();
      let wakeAt: number;
      try {
        this.#dropAborted();
        if (this.#waiters.size === 0) break;
        await this.#publish();
        const settle = this.#settleUntil;
        if (settle !== undefined && this.now() < settle) {
          // An order its own buckets hold back beyond its wait bound is refused now, not after the settling.
          if (this.#bounded.size > 0) await this.#refuseOverdue(new BudgetSnapshot(this.budget, this.now()), new Map());
          if (this.#waiters.size === 0) break;
          await this.sleep(settle - this.now(), this.#wake.signal);
          continue;
        }
        this.#settleUntil = undefined;
        const walkedAt = this.now();
        const step = await this.#step();
        if (step.again) {
          // Walk on at once, after one turn of the event loop (over a storage in memory every call
          // answers at once: without it, lease heartbeats could wait behind a run of walks).
          await eventLoopTurn();
          continue;
        }
        wakeAt = Math.max(step.wakeAt, walkedAt + this.batchMs);
      } catch (err) {
        // The queue or the budget cannot be read or written: every order here fails with that error.
        for (const w of [...this.#waiters.values()]) this.#settle(w, () => w.reject(err));
        break;
      }
      if (this.#waiters.size === 0) break;
      this.#announce();
      const renewAt = this.#record ? this.#record.until - this.leaseMs / 2 : -Infinity;
      const wait = Math.min(LONGEST_SLEEP_MS, Math.max(1, Math.min(wakeAt, renewAt) - this.now()));
      await this.sleep(wait, this.#wake.signal);
    }
    await this.#retire();
  }

  /** One walk of the shared queue and the spends it allows us. */
  async #step(): Promise<{ again: boolean; wakeAt: number }> {
    const now = this.now();
    const storage = this.budget.storage;
    const records = new Map<string, StoredProcess>();
    let cursor: string | undefined;
    do {
      const page = await storage.list(this.layout.processes, cursor ? { cursor } : {});
      for (const key of page.keys) {
        const entry = await storage.getEntry(key);
        if (!entry) continue;
        const id = key.slice(this.layout.processes.length);
        const record = decodeProcess(entry.value);
        if (id !== this.#process && (!record || record.until <= now)) {
          // A lapsed (or damaged) lease goes now, by compare-and-set on what was read — not only when
          // a walk meets one of its orders: a process that crashed with no order left (after its last
          // was removed, or before it wrote any) had its record stay for good, read by every walk. Its
          // orders, if any, go when the walk meets them (their owner has no record).
          await storage.delete(key, { ifVersion: entry.version }).catch((err: unknown) => {
            if (!isConflict(err)) throw err;
          });
          continue;
        }
        records.set(id, { record, version: entry.version });
      }
      cursor = page.cursor;
    } while (cursor);
    const account = (this.#waiters.values().next().value as Waiter | undefined)?.refs.find((r) => r.kind === "orders");
    const snapshot = new BudgetSnapshot(this.budget, now);
    const walk = await new QueueWalk(this.budget, this.layout, snapshot, this.#process, (n) => this.#waiters.get(n), records, account).run();
    this.#critical = walk.critical ?? this.#critical;
    let wakeAt = walk.wakeAt;
    let lost = false;
    let turn = 0;
    for (const chosen of walk.chosen) {
      if (chosen.owner !== this.#process) continue;
      const waiter = this.#waiters.get(chosen.n);
      if (!waiter) continue;
      let decision;
      try {
        decision = await this.budget.trySpend(waiter.request);
      } catch (err) {
        this.#settle(waiter, () => waiter.reject(err));
        continue;
      }
      if (decision.granted) {
        if (chosen.turn !== undefined) turn = Math.max(turn, chosen.turn);
        this.#settle(waiter, () => waiter.resolve(decision.spent));
        continue;
      }
      // Another process spent these tokens since the walk read them: walk again.
      lost = true;
      wakeAt = Math.min(wakeAt, decision.retryAt);
    }
    if (turn > this.#turn) await this.#advanceTurn(turn);
    for (const [n, blocked] of walk.blocked) {
      const waiter = this.#waiters.get(n);
      if (waiter) waiter.blockedBy = { kind: blocked.bucket.kind, subject: blocked.bucket.subject, retryAt: blocked.retryAt };
    }
    // Orders the walk did not reach (it stopped at a spent bucket ahead of them, e.g. another
    // process's renewal on the account's): their own buckets say at least until when they wait, for
    // views and the queued event (which would otherwise expect them now).
    // (Only those about to be announced: doing it for every waiter after every walk cost O(queue) per token.)
    let looked = 0;
    for (const waiter of this.#unannounced) {
      if (walk.blocked.has(waiter.n)) continue;
      // Over a storage that answers at once (memory), a long loop would keep other work (lease
      // heartbeats) from running: let the event loop turn now and then.
      if (++looked % 1000 === 0) await eventLoopTurn();
      await snapshot.load(waiter.refs);
      const by = snapshot.wait(waiter.refs);
      if (by) waiter.blockedBy = { kind: by.bucket.kind, subject: by.bucket.subject, retryAt: by.retryAt };
    }
    wakeAt = Math.min(wakeAt, await this.#refuseOverdue(snapshot, walk.blocked));
    this.#lostSpends = lost ? this.#lostSpends + 1 : 0;
    // A walk cut short at its bound goes on at once when it chose ours or cleared the way (removed leftovers, moved hints).
    const again = (lost && this.#lostSpends <= MAX_LOST_SPENDS) || (walk.truncated && (walk.chosen.some((c) => c.owner === this.#process) || walk.cleaned > 0));
    return { again, wakeAt };
  }

  /**
   * Refuses, with {@link BudgetSpentError}, orders whose wait bound passed or whose own buckets stay
   * spent beyond it; returns the earliest bound still ahead (to wake for it).
   */
  async #refuseOverdue(snapshot: BudgetSnapshot, blocked: ReadonlyMap<string, Blocked>): Promise<number> {
    let next = Infinity;
    for (const waiter of [...this.#bounded]) {
      let by = blocked.get(waiter.n);
      if (!by) {
        // Not reached by the walk: its own buckets say at least how long it waits.
        await snapshot.load(waiter.refs);
        by = snapshot.wait(waiter.refs);
      }
      const now = snapshot.now;
      if (by && by.retryAt > waiter.deadline) {
        // Too long to wait here (a Worker invocation cannot sleep for hours): the caller records when to come back.
        const blockedBy = { kind: by.bucket.kind, subject: by.bucket.subject, retryAt: by.retryAt };
        this.#settle(waiter, () => waiter.reject(new BudgetSpentError(waiter.request.names, blockedBy, now)));
      } else if (now >= waiter.deadline) {
        const ref = by?.bucket ?? waiter.refs[0]!;
        const blockedBy = { kind: ref.kind, subject: ref.subject, retryAt: Math.max(by?.retryAt ?? 0, now) };
        this.#settle(waiter, () => waiter.reject(new BudgetSpentError(waiter.request.names, blockedBy, now)));
      } else next = Math.min(next, waiter.deadline);
    }
    return next;
  }

  /** Removes a waiter here and its entry in the shared queue, then settles it. */
  #settle(waiter: Waiter, settle: () => void): void {
    if (!this.#waiters.delete(waiter.n)) return;
    this.#unpublished.delete(waiter);
    this.#aborted.delete(waiter);
    this.#bounded.delete(waiter);
    this.#unannounced.delete(waiter);
    if (waiter.request.expiresAt === undefined) {
      this.#firstIssuances--;
      const left = (this.#demand.get(waiter.domainId) ?? 1) - 1;
      if (left > 0) this.#demand.set(waiter.domainId, left);
      else this.#demand.delete(waiter.domainId);
    }
    // Its entry goes before the caller hears (sends, or gives up and maybe exits): views reading the
    // queue meanwhile never show an order that is gone. A failed removal leaves an entry no waiter of
    // ours has: the next walk removes it.
    if (waiter.key) void this.budget.storage.delete(waiter.key).catch(() => undefined).finally(settle);
    else settle();
  }

  #dropAborted(): void {
    for (const waiter of [...this.#aborted]) this.#settle(waiter, () => waiter.reject(abortedError(waiter.request)));
  }

  /** No order waits in the shared queue (its first renewal and first hint). */
  async #sharedQueueEmpty(): Promise<boolean> {
    const storage = this.budget.storage;
    const [renewals, hints] = await Promise.all([storage.list(this.layout.renewals, { limit: 1 }), storage.list(this.layout.hints, { limit: 1 })]);
    return renewals.keys.length === 0 && hints.keys.length === 0;
  }

  /**
   * Writes our record (lease and demand) when due, then our new orders: renewals by expiry, first
   * issuances with the next turns of their domain and a hint. The record goes first, so no process
   * sees an order of ours without a live lease.
   */
  async #publish(): Promise<void> {
    await this.#writeRecord();
    if (this.#unpublished.size === 0) return;
    const storage = this.budget.storage;
    const batch = [...this.#unpublished].sort((a, b) => a.seq - b.seq);
    this.#unpublished.clear();
    const byDomain = new Map<string, Waiter[]>();
    for (const w of batch) {
      if (w.request.expiresAt !== undefined) {
        const key = this.layout.renewal(w.request.expiresAt, this.#process, w.n);
        await storage.put(key, encodeOrder(w.request, w.refs));
        w.key = key;
        continue;
      }
      const list = byDomain.get(w.domainId) ?? [];
      list.push(w);
      byDomain.set(w.domainId, list);
    }
    if (byDomain.size === 0) return;
    const turn = decodeNumber(await storage.get(this.layout.turn), "turn");
    for (const [domainId, list] of byDomain) {
      // Orders written again (after our lease was taken away) keep their turns.
      const fresh = list.filter((w) => w.turn === undefined);
      if (fresh.length > 0) {
        const first = await this.#takeTurns(domainId, fresh.length, turn);
        fresh.forEach((w, i) => (w.turn = first + i));
      }
      for (const w of list) {
        const key = this.layout.first(domainId, w.turn!, this.#process, w.n);
        await storage.put(key, encodeOrder(w.request, w.refs));
        w.key = key;
      }
      await storage.put(this.layout.hint(Math.min(...list.map((w) => w.turn!)), domainId), "");
    }
  }

  /** The next `count` turns of a domain: from the queue's turn on, after the domain's last (compare-and-set). */
  async #takeTurns(domainId: string, count: number, queueTurn: number): Promise<number> {
    const storage = this.budget.storage;
    const key = this.layout.turnCounter(domainId);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = await storage.getEntry(key);
      const first = Math.max(queueTurn, decodeNumber(entry?.value, "last")) + 1;
      try {
        await storage.put(key, JSON.stringify({ last: first + count - 1 }), { ifVersion: entry?.version ?? null });
        return first;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    throw new EdgecertError("conflict", `the CA budget's queue for ${domainId} is contended: ${MAX_CAS_ATTEMPTS} attempts lost to other writers`);
  }

  /** Moves the queue's turn forward to `turn` (never back). */
  async #advanceTurn(turn: number): Promise<void> {
    const storage = this.budget.storage;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = await storage.getEntry(this.layout.turn);
      const current = decodeNumber(entry?.value, "turn");
      this.#turn = Math.max(current, this.#turn);
      if (current >= turn) return;
      try {
        await storage.put(this.layout.turn, JSON.stringify({ turn }), { ifVersion: entry?.version ?? null });
        this.#turn = turn;
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  /**
   * Writes our record when its lease is half gone or our demand moved by 1 %, by compare-and-set: a
   * conflict means another process found the lease lapsed and removed it (and may be removing our
   * orders): we take a new id and write every order again, keeping its turn.
   */
  async #writeRecord(): Promise<void> {
    const now = this.now();
    const total = Math.max(this.#firstIssuances, this.#backlog?.total ?? 0);
    const r = this.#record;
    const due = !r || this.#backlogMoved || now >= r.until - this.leaseMs / 2 || Math.abs(total - r.total) >= Math.max(1, r.total / 100);
    if (!due) return;
    this.#backlogMoved = false;
    const record = encodeProcess({ until: now + this.leaseMs, total, heavy: this.#heaviest() });
    const storage = this.budget.storage;
    const key = this.layout.process(this.#process);
    try {
      await storage.put(key, record, { ifVersion: r?.version ?? null });
      const entry = await storage.getEntry(key);
      if (!entry) throw new EdgecertError("conflict", "the queue record was removed");
      this.#record = { version: entry.version, until: now + this.leaseMs, total };
    } catch (err) {
      if (!isConflict(err)) throw err;
      this.#process = randomId();
      this.#record = undefined;
      for (const w of this.#waiters.values()) {
        w.key = undefined;
        this.#unpublished.add(w);
      }
      await this.#writeRecord();
    }
  }

  /** The registered domains with the most first issuances waiting here or on their way (at least 2), largest first. */
  #heaviest(): Array<[string, number]> {
    const top: Array<[string, number]> = [];
    const demand = new Map(this.#demand);
    for (const [id, n] of this.#backlog?.byDomain ?? []) demand.set(id, Math.max(n, demand.get(id) ?? 0));
    for (const [id, n] of demand) {
      if (n < 2 || (top.length === HEAVY_DOMAINS && n <= top[top.length - 1]![1])) continue;
      let i = top.length;
      while (i > 0 && top[i - 1]![1] < n) i--;
      top.splice(i, 0, [id, n]);
      if (top.length > HEAVY_DOMAINS) top.pop();
    }
    return top;
  }

  /** No order waits here any more: our record goes (its lease would lapse anyway). */
  async #retire(): Promise<void> {
    const r = this.#record;
    this.#record = undefined;
    if (r && this.#waiters.size === 0) await this.budget.storage.delete(this.layout.process(this.#process), { ifVersion: r.version }).catch(() => undefined);
  }

  /** Tells `onQueued` about orders that wait for the first time. */
  #announce(): void {
    if (this.#unannounced.size === 0 || !this.onQueued) return;
    for (const { w, view } of this.#views()) {
      if (this.#unannounced.delete(w)) this.onQueued?.(view);
    }
  }

  /**
   * Renewals by expiry; then first issuances of the domains whose own limit binds (the last walk's
   * judgement, largest need first), then the others by turn (and the turn's mix), as the shared queue
   * serves them. Views in pure turn order put the binding customer's orders behind everyone's (its
   * 100th name behind 99 rounds of the others) while the walk sends them whenever its bucket holds a
   * token: their estimates came late and the others' early, and the Worker's index, which counts an
   * order past its estimate as no longer in flight, misjudged what each customer had waiting.
   */
  #ordered(): Waiter[] {
    const critical = new Map(this.#critical.map((id, i) => [id, i]));
    // Each waiter's place as the shared queue orders it, computed once per sort (not per comparison).
    const keyed = [...this.#waiters.values()].map((w) => ({
      w,
      renewal: w.request.expiresAt,
      lane: critical.get(w.domainId) ?? critical.size,
      order: w.turn === undefined ? "~" : turnOrder(w.turn, w.domainId),
    }));
    keyed.sort((a, b) => {
      if (a.renewal !== undefined || b.renewal !== undefined) return (a.renewal ?? Infinity) - (b.renewal ?? Infinity) || a.w.seq - b.w.seq;
      if (a.lane !== b.lane) return a.lane - b.lane;
      return a.order < b.order ? -1 : a.order > b.order ? 1 : a.w.seq - b.w.seq;
    });
    return keyed.map((k) => k.w);
  }

  /**
   * Every waiter as views show it, in queue order. An order goes no earlier than one refill interval
   * after the last order ahead of it that the same bucket holds back, so one behind a paused or
   * spent bucket's head — which its own walk may not have reached, leaving it no `blockedBy` of its
   * own — is expected after that head, not now (the Worker's parked orders were estimated "now" behind
   * a head paused for an hour by the CA's Retry-After, and their invocations came back every tick).
   */
  #views(): Array<{ w: Waiter; view: QueuedOrder }> {
    const now = this.now();
    const last = new Map<string, number>();
    return this.#ordered().map((w, i) => {
      const position = i + 1;
      const orders = w.refs.find((r) => r.kind === "orders");
      const interval = orders ? orders.limit.periodMs / orders.limit.count : 0;
      let estimatedAt = Math.max(w.blockedBy?.retryAt ?? now, now + (position - 1) * interval);
      let blockedBy = w.blockedBy;
      for (const ref of w.refs) {
        const ahead = last.get(ref.key);
        const after = ahead === undefined ? undefined : ahead + ref.limit.periodMs / ref.limit.count;
        if (after !== undefined && after > estimatedAt) {
          estimatedAt = after;
          blockedBy = { kind: ref.kind, subject: ref.subject, retryAt: after };
        }
      }
      // Only the bucket that holds it back passes the wait on: another order that shares a bucket with
      // room in it (the account's, behind a customer whose own domain bucket is spent) is not held.
      const holding = blockedBy && w.refs.find((r) => r.kind === blockedBy.kind && r.subject === blockedBy.subject);
      if (holding) last.set(holding.key, Math.max(last.get(holding.key) ?? -Infinity, estimatedAt));
      const view: QueuedOrder = { id: w.request.id, names: w.request.names, position, estimatedAt, renewal: queuedKind(w.request) === "renewal", kind: queuedKind(w.request), registeredDomain: w.domain };
      return { w, view: blockedBy ? { ...view, blockedBy } : view };
    });
  }
}

function abortedError(request: AdmissionRequest): EdgecertError {
  return new EdgecertError("aborted", `waiting for the CA budget for ${request.names.join(", ")} was aborted`);
}

function isConflict(err: unknown): boolean {
  return err instanceof EdgecertError && err.code === "conflict";
}
