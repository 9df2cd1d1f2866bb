import { DurableObject } from "cloudflare:workers";
import type { CaLimits } from "../src/budget/ca-limits.ts";
import { BudgetSpentError, FairQueue, queuedKind, type AdmissionRequest, type QueuedOrder } from "../src/budget/fair-queue.ts";
import { FleetBudget, type BucketRef } from "../src/budget/fleet-budget.ts";
import { EdgecertError } from "../src/errors.ts";
import type { BudgetQueue } from "../src/manager/ca-budgets.ts";
import { issuerKey } from "../src/manager/storage-keys.ts";
import { readConfig } from "./config.ts";
import type { Env } from "./env.ts";
import { workerStorage } from "./storage.ts";
import { renewalIndex, type FirstBacklog } from "./renewal-index.ts";
import { kickTick } from "./renewal-dispatcher.ts";

/** The queue's answer over RPC (an error's class does not cross it): the buckets spent, or what holds the order back. */
export type QueueAnswer = { spent: BucketRef[] } | { blockedBy: BudgetSpentError["blockedBy"] };

/** How often the queue is walked again while orders are parked (see `CaBudgetQueue.#keepAwake`). */
const WAKE_MS = 500;
/** How long a token spent for a parked order is kept for its renewer to take; then it goes back to the budget. */
const GRANT_TTL_MS = 60_000;

/**
 * How long room reserved for a chunk's first issuances (see {@link CaBudgetQueue.reserve}) is held at
 * most, should its dispatcher never release it: a tick's claim (workers/scheduled.ts CLAIM_MS).
 */
const RESERVE_MS = 15 * 60_000;

/** An order waiting in the queue beyond its caller's wait (see {@link CaBudgetQueue.admit}). */
interface Parked {
  /** Takes it out of the queue (its certificate is gone: see {@link CaBudgetQueue.forget}). */
  abort: AbortController;
  /** Callers waiting on it now (the renewer's run, usually one). */
  listeners: number;
  /** Taken by a waiting caller or made a grant. */
  settled: boolean;
}

/**
 * The deployment's one queue for the CA's budget. Every Worker invocation that needs an order (each in
 * its certificate's renewer) waits here, so the fair order of `FairQueue` — renewals first, then
 * turns across registered domains, a domain whose own limit decides the finish first — is kept across
 * all of them, as one process keeps it across its own orders. (With a queue per invocation, each
 * holding one order, whichever invocation's timer fired first took the token: a customer with many
 * names took most of them while a small customer's names waited.) The buckets stay in the shared
 * storage, spent by compare-and-set as before; this object only decides the order. One instance.
 *
 * An order whose caller cannot wait any longer stays in the queue, parked: when its turn comes and
 * its tokens are spent, this object runs its certificate's renewer, which takes them (a grant). So
 * every order waiting for the budget holds its place here at once, not only those whose invocations
 * are still open — a tick runs a few renewals at a time, and with the rest outside the queue the
 * turns were taken among those few (onboarding in bulk: one customer's names filled every place,
 * the CA's per-domain limit let one of them go per refill, the other customers' first certificates
 * waited a minute). Parked orders live in this object's memory: when it restarts they are gone, and
 * each comes back at its entry's due time (the cron tick), as before.
 */
export class CaBudgetQueue extends DurableObject<Env> {
  readonly #queues = new Map<string, { queue: FairQueue; budget: FleetBudget }>();
  readonly #parked = new Map<string, Parked & { promise: Promise<readonly BucketRef[]> }>();
  #waker: ReturnType<typeof setInterval> | undefined;
  readonly #granted = new Map<string, { spent: readonly BucketRef[]; timer: ReturnType<typeof setTimeout> }>();
  /** Room reserved for first issuances a dispatcher is running whose orders have not arrived yet (see {@link reserve}). */
  #reserved: Array<{ ticket: string; n: number; until: number }> = [];
  /** Set when first issuances were held back: the waiting count at which to kick a tick for more. */
  #refillAt: number | undefined;

  /**
   * Room for `want` first issuances a dispatcher is about to run (one chunk of a tick, `ticket`), with at
   * most `max` orders waiting here (parked, or reserved for orders on their way): how many it may run,
   * reserved until their orders arrive or the chunk ends ({@link release}). The dispatcher gives the
   * rest back to the index, so the queue's memory is bounded whatever the backlog — each waiting
   * order costs ~1.9 KB here and, deployed, a renewer invocation to park it; with every order of a
   * 100,000-name onboarding parked at once, local workerd ran out of SQLite memory (thousands of
   * renewers alive) and a deployment would pass Workers' 128 MB. When the waiting drop to half of
   * `max`, a tick is kicked for more (see `#settled`).
   */
  reserve(ticket: string, want: number, max: number): number {
    const now = Date.now();
    this.#reserved = this.#reserved.filter((r) => r.n > 0 && r.until > now);
    const room = this.room(want, max);
    this.#reserved.push({ ticket, n: room, until: now + RESERVE_MS });
    return room;
  }

  /** Room for `want` under `max` now, reserving nothing (a tick claims no more first issuances than that). */
  room(want: number, max: number): number {
    const room = Math.max(0, Math.min(want, max - this.#waiting()));
    if (room < want) this.#refillAt = Math.floor(max / 2);
    return room;
  }

  /** The chunk `ticket` has run: what is left of its room (orders that never came: a renewer failed before its order, say) is free again. */
  release(ticket: string): void {
    this.#reserved = this.#reserved.filter((r) => r.ticket !== ticket);
    this.#settled();
  }

  /** Orders waiting here, and room reserved for those on their way. */
  #waiting(): number {
    return this.#reserved.reduce((n, r) => n + r.n, this.#parked.size);
  }

  /** An order left the queue: when a tick held first issuances back and the queue has drained to half, kick one. */
  #settled(): void {
    if (this.#refillAt === undefined || this.#waiting() > this.#refillAt) return;
    this.#refillAt = undefined;
    this.ctx.waitUntil(kickTick(this.env, Date.now()).catch(() => undefined));
  }

  /**
   * Waits for the budget of `directoryUrl` under `limits` for `request`, at most `maxWaitMs`: the
   * buckets spent, or the bucket that holds it back when the wait would be longer — the order then
   * stays parked in the queue (see the class). A grant made for the certificate is taken at once.
   */
  async admit(directoryUrl: string, limits: CaLimits, request: AdmissionRequest, maxWaitMs: number): Promise<QueueAnswer> {
    const grant = this.#granted.get(request.id);
    if (grant) {
      clearTimeout(grant.timer);
      this.#granted.delete(request.id);
      return { spent: [...grant.spent] };
    }
    // A first issuance arriving takes a reservation (the oldest).
    const held = queuedKind(request) === "first" ? this.#reserved.find((r) => r.n > 0) : undefined;
    if (held) held.n--;
    const { queue, budget } = await this.#queue(directoryUrl, limits);
    const parked = this.#parked.get(request.id) ?? this.#park(queue, budget, request);
    parked.listeners++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const outcome = await Promise.race([
        parked.promise.then((spent) => ({ spent })),
        new Promise<undefined>((resolve) => (timer = setTimeout(resolve, maxWaitMs))),
      ]);
      if (outcome && !parked.settled) {
        parked.settled = true;
        return { spent: [...outcome.spent] };
      }
    } catch (err) {
      if (err instanceof BudgetSpentError) return { blockedBy: err.blockedBy };
      throw err;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      parked.listeners--;
    }
    return { blockedBy: this.#blockedBy(queue, request) };
  }

  /**
   * The first issuances pending in the renewal index (a tick tells it after each claim): the queue
   * judges on them which registered domain's own limit decides when onboarding can finish, not on the
   * part of the backlog waiting here (see `FairQueue.setBacklog`).
   */
  async backlog(directoryUrl: string, limits: CaLimits, backlog: FirstBacklog): Promise<void> {
    const { queue } = await this.#queue(directoryUrl, limits);
    await queue.setBacklog({ total: backlog.total, byDomain: new Map(backlog.byDomain.map((d) => [d.domain, d.pending])) });
  }

  /**
   * Certificate `id` was removed or revoked: its parked order leaves the queue now. Left there, it held
   * its place and a unit of BUDGET_QUEUE_MAX until its turn came (days, behind a domain's 50 a week).
   */
  forget(id: string): void {
    this.#parked.get(id)?.abort.abort();
  }

  /** The orders waiting here now, in the order they will go. */
  queued(): QueuedOrder[] {
    return [...this.#queues.values()].flatMap((q) => q.queue.queued());
  }

  /**
   * While orders are parked, walks each queue again every {@link WAKE_MS}: a parked order has no
   * caller whose arrival would wake the queue, and the time its last walk computed misses tokens given
   * back meanwhile (an admitted order that was not sent, a grant nobody took) — measured: a 10-13 s
   * stall near the end of a 300-name onboarding with tokens in both buckets.
   */
  #keepAwake(): void {
    if (this.#waker !== undefined) return;
    this.#waker = setInterval(() => {
      if (this.#parked.size === 0) {
        if (this.#waker !== undefined) clearInterval(this.#waker);
        this.#waker = undefined;
        return;
      }
      for (const { queue } of this.#queues.values()) queue.wake();
    }, WAKE_MS);
  }

  /** Puts `request` in the queue with no bound on its wait; once its tokens are spent, a waiting caller or its renewer takes them. */
  #park(queue: FairQueue, budget: FleetBudget, request: AdmissionRequest): Parked & { promise: Promise<readonly BucketRef[]> } {
    const abort = new AbortController();
    const parked = { abort, listeners: 0, settled: false, promise: queue.admit(request, abort.signal) };
    this.#parked.set(request.id, parked);
    this.#keepAwake();
    parked.promise.then(
      (spent) => {
        this.#parked.delete(request.id);
        this.#settled();
        // A caller still waiting takes it (its `then` runs after this one); otherwise it is a grant.
        if (parked.listeners > 0 || parked.settled) return;
        parked.settled = true;
        this.#grant(request, budget, spent);
      },
      () => {
        this.#parked.delete(request.id);
        this.#settled();
      },
    );
    return parked;
  }

  /**
   * Keeps `spent` for the certificate's renewer and runs it. Tokens its run did not take go back when it
   * ends (removed meanwhile; a run that sent no order: a forced renewal's parked order is run as a
   * maintain and the certificate is not due), at the latest after {@link GRANT_TTL_MS} — kept for the
   * minute, the next order in the queue waited for the following refill instead of this token.
   */
  #grant(request: AdmissionRequest, budget: FleetBudget, spent: readonly BucketRef[]): void {
    const giveBack = () => {
      const grant = this.#granted.get(request.id);
      if (grant?.spent !== spent) return;
      clearTimeout(grant.timer);
      this.#granted.delete(request.id);
      void budget.giveBack(spent).catch(() => undefined);
    };
    this.#granted.set(request.id, { spent, timer: setTimeout(giveBack, GRANT_TTL_MS) });
    const run = (async () => {
      const entry = await renewalIndex(this.env).get(request.id);
      if (entry) await this.env.CERTIFICATE_RENEWER.get(this.env.CERTIFICATE_RENEWER.idFromName(entry.id)).run(entry, Date.now());
    })()
      .catch((err: unknown) => console.warn(JSON.stringify({ level: "warn", event: "worker.budget_grant_run_failed", id: request.id, error: String(err) })))
      .finally(giveBack);
    this.ctx.waitUntil(run);
  }

  /** What holds a parked order back, as the queue sees it now (its estimated turn, at least the blocking bucket's refill). */
  #blockedBy(queue: FairQueue, request: AdmissionRequest): BudgetSpentError["blockedBy"] {
    const view = queue.queued().find((q) => q.id === request.id);
    const at = Math.max(view?.estimatedAt ?? 0, view?.blockedBy?.retryAt ?? 0, Date.now());
    return { kind: view?.blockedBy?.kind ?? "orders", subject: view?.blockedBy?.subject ?? request.account, retryAt: at };
  }

  async #queue(directoryUrl: string, limits: CaLimits): Promise<{ queue: FairQueue; budget: FleetBudget }> {
    // Limits come with each call: a new CA_LIMITS after a deploy gets a queue of its own.
    const key = JSON.stringify([directoryUrl, limits]);
    let entry = this.#queues.get(key);
    if (!entry) {
      const { encryption } = await readConfig(this.env);
      const budget = new FleetBudget({ storage: workerStorage(this.env, encryption), limits, ca: issuerKey(directoryUrl) });
      entry = { queue: new FairQueue(budget), budget };
      this.#queues.set(key, entry);
    }
    return entry;
  }
}

/** The deployment's one {@link CaBudgetQueue} (RPC stub). */
export const budgetQueue = (env: Env) => env.CA_BUDGET_QUEUE.get(env.CA_BUDGET_QUEUE.idFromName("queue"));

/**
 * A manager's `budgetQueue` that waits in the deployment's {@link CaBudgetQueue}. Exempt orders (ARI
 * renewals) go at once without a call. When the queue cannot be reached, the invocation's own queue
 * takes the order (turns per invocation, as before) rather than failing it.
 */
export function sharedBudgetQueue(env: Env): (directoryUrl: string, budget: FleetBudget) => BudgetQueue {
  return (directoryUrl, budget) => {
    const local = new FairQueue(budget);
    let remote = 0;
    // Held back here already (the manager asks again under the certificate's lock): the order is parked
    // in the queue, which runs the renewer at its turn. Asking again waited another 3 s (a held-back run
    // took 6) and took a second unit of the room reserved for orders on their way.
    const refused = new Map<string, BudgetSpentError["blockedBy"]>();
    return {
      async admit(request, signal, maxWaitMs = Infinity) {
        if ((await budget.bucketsFor(request)).length === 0) return [];
        if (signal?.aborted) throw new EdgecertError("aborted", `waiting for the CA budget for ${request.names.join(", ")} was aborted`);
        const blocked = refused.get(request.id);
        if (blocked) throw new BudgetSpentError(request.names, blocked, Date.now());
        let answer: QueueAnswer;
        remote++;
        try {
          answer = await budgetQueue(env).admit(directoryUrl, budget.limits, { ...request, names: [...request.names] }, maxWaitMs);
        } catch (err) {
          console.warn(JSON.stringify({ level: "warn", event: "worker.budget_queue_unreachable", error: String(err) }));
          return local.admit(request, signal, maxWaitMs);
        } finally {
          remote--;
        }
        if ("spent" in answer) return answer.spent;
        refused.set(request.id, answer.blockedBy);
        throw new BudgetSpentError(request.names, answer.blockedBy, Date.now());
      },
      queued: () => local.queued(),
      get size() {
        return remote + local.size;
      },
    };
  };
}
