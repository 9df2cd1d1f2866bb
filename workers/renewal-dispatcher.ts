import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { renewalIndex, type IndexEntry } from "./renewal-index.ts";
import { budgetQueue } from "./ca-budget-queue.ts";
import type { RenewerResult } from "./certificate-renewer.ts";
import { tick } from "./scheduled.ts";

/**
 * How many dispatcher instances run the extra ticks in their alarms (see {@link kickTick}): "kick" (the
 * one before there were several), "kick-1" … A few, so an extra tick is not held behind another's dispatch.
 */
const KICK_INSTANCES = 8;

/**
 * Runs a tick (claim what is due, dispatch it) at `at`, or at once when that has passed, besides the
 * cron's — in the alarm of a dispatcher instance not running one now, an invocation with the cron's
 * own wall-time allowance. Names added in bulk start at once instead of at the next cron minute, and a
 * certificate the CA's budget held back (due again when its bucket refills) is dispatched at the
 * refill, not up to a minute later: a bucket refilled between ticks is spent as it refills. A tick
 * runs until its batch is handed out (minutes for a large one): with one instance, what a second bulk
 * add brought waited for it — a small customer's names behind the whole batch of a large one's
 * (onboarding through the Worker: the small customers' first certificates at up to 75 % of the run).
 * When all are busy, the cron tick takes what is due (before, what a kick brought waited for the one
 * instance's tick to end, often longer). Kicks only ever bring an alarm earlier; ticks already cost
 * nothing when nothing is due. At most {@link KICK_INSTANCES} calls.
 */
export async function kickTick(env: Env, at: number): Promise<void> {
  for (let i = 0; i < KICK_INSTANCES; i++) if (await env.RENEWAL_DISPATCHER.get(env.RENEWAL_DISPATCHER.idFromName(i ? `kick-${i}` : "kick")).kick(at)) return;
}

/**
 * Outgoing calls one invocation keeps open at once: Workers allow 6 simultaneous open connections per
 * invocation (https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections),
 * so more would only queue inside the runtime.
 */
export const INVOCATION_CONCURRENCY = 6;

/** What one invocation spent, counted where its calls are made. */
export interface InvocationStats {
  /** Outgoing calls (Durable Object RPCs) this invocation made: Workers' subrequest limit counts them. */
  subrequests: number;
  /** Most of those calls open at once. */
  maxInFlight: number;
}

/** What a dispatcher invocation did with its chunk. */
export interface ChunkResult extends InvocationStats {
  results: RenewerResult[];
  /** First issuances it gave back to the index, beyond the room in the CA budget's queue. */
  held?: number;
}

/**
 * Runs `work` over `items`, at most `limit` at once, counting the calls and how many were open at once.
 * Once `stop()` answers true no further item is started; those are returned as `untaken`.
 */
export async function boundedCalls<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
  stop: () => boolean = () => false,
): Promise<{ results: R[]; untaken: T[] } & InvocationStats> {
  const results: R[] = [];
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const lane = async () => {
    while (next < items.length && !stop()) {
      const item = items[next++]!;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        results.push(await work(item));
      } finally {
        inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return { results, untaken: items.slice(next), subrequests: next, maxInFlight };
}

/**
 * One chunk of a tick's due certificates, renewed in an invocation of its own: the cron invocation makes
 * one call per chunk instead of one per certificate, so a tick of thousands stays within Workers'
 * per-invocation subrequest limit, and each chunk's calls (one per certificate, each renewal in its own
 * {@link CertificateRenewer} invocation) stay within it too. Holds no state; any instance serves any chunk.
 */
export class RenewalDispatcher extends DurableObject<Env> {
  /** This instance's alarm is running a tick now. */
  #busy = false;

  /**
   * Sets the extra tick's alarm to `at` when that is earlier than the one set (see {@link kickTick}),
   * and answers true; answers false, setting nothing, while this instance runs a tick.
   */
  async kick(at: number): Promise<boolean> {
    if (this.#busy) return false;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || at < current) await this.ctx.storage.setAlarm(at);
    return true;
  }

  /** The extra tick: what is due now, as the cron's tick does it (its record stays the cron's). */
  override async alarm(): Promise<void> {
    this.#busy = true;
    try {
      // A full batch: more may be due (a bulk add beyond RENEW_BATCH). Another instance's tick takes
      // them at once, while this one hands its batch out — unless first issuances were held back for
      // the CA budget's queue: it kicks a tick once drained.
      await tick(this.env, Date.now(), Date.now, { record: false, onFull: () => kickTick(this.env, Date.now()) });
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Renews each entry of `chunk` at the tick's time `at`, {@link INVOCATION_CONCURRENCY} at a time. With
   * `queueMax` (a CA budget), its first issuances only as many as the budget's queue has room for
   * (`CaBudgetQueue.reserve`, held while this chunk runs): the others go back to the index at once, due
   * as before. Asked per chunk: a tick reserving its whole batch held it while starting 36 renewers at
   * a time, so at most BUDGET_QUEUE_MAX / RENEW_BATCH ticks ran at once (10,000 names onboarding: 406
   * orders in the first 63 s, 2,051 before the bound).
   */
  async renewChunk(chunk: IndexEntry[], at: number, retryAt: number, queueMax?: number): Promise<ChunkResult> {
    const firsts = queueMax === undefined ? [] : chunk.filter((e) => e.notAfter === undefined);
    const ticket = crypto.randomUUID();
    let calls = 0;
    let held: IndexEntry[] = [];
    if (firsts.length > 0) {
      calls++;
      // Unreachable: all of them, as before the bound (each renewer then waits in its own invocation).
      held = firsts.slice(await budgetQueue(this.env).reserve(ticket, firsts.length, queueMax!).catch(() => firsts.length));
      if (held.length > 0) {
        calls++;
        await renewalIndex(this.env).release(held, retryAt);
      }
    }
    const { untaken: _none, ...done } = await boundedCalls(chunk.filter((e) => !held.includes(e)), INVOCATION_CONCURRENCY, async (entry): Promise<RenewerResult> => {
      const stub = this.env.CERTIFICATE_RENEWER.get(this.env.CERTIFICATE_RENEWER.idFromName(entry.id));
      try {
        return await stub.run(entry, at);
      } catch (err) {
        return { id: entry.id, outcome: "failed", dueAt: retryAt, error: String(err) };
      }
    });
    if (firsts.length > 0) {
      calls++;
      // Every order of this chunk has reached the queue or never will: what is left of its room is free.
      await budgetQueue(this.env).release(ticket).catch(() => undefined);
    }
    // A dispatcher never stops early: every entry of its chunk is taken.
    return { ...done, subrequests: done.subrequests + calls, held: held.length };
  }
}
