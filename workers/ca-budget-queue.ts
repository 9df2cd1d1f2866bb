import { DurableObject } from "cloudflare:workers";
import type { CaLimits } from "../src/budget/ca-limits.ts";
import { BudgetSpentError, FairQueue, type AdmissionRequest, type QueuedOrder } from "../src/budget/fair-queue.ts";
import { FleetBudget, type BucketRef } from "../src/budget/fleet-budget.ts";
import { EdgecertError } from "../src/errors.ts";
import type { BudgetQueue } from "../src/manager/ca-budgets.ts";
import { issuerKey } from "../src/manager/storage-keys.ts";
import { readConfig } from "./config.ts";
import type { Env } from "./env.ts";
import { workerStorage } from "./storage.ts";

/** The queue's answer over RPC (an error's class does not cross it): the buckets spent, or what holds the order back. */
export type QueueAnswer = { spent: BucketRef[] } | { blockedBy: BudgetSpentError["blockedBy"] };

/**
 * The deployment's one queue for the CA's budget. Every Worker invocation that needs an order (each in
 * its certificate's renewer) waits here, so the fair order of `FairQueue` — renewals first, then
 * turns across registered domains, a domain whose own limit decides the finish first — is kept across
 * all of them, as one process keeps it across its own orders. (With a queue per invocation, each
 * holding one order, whichever invocation's timer fired first took the token: a customer with many
 * names took most of them while a small customer's names waited.) The buckets stay in the shared
 * storage, spent by compare-and-set as before; this object only decides the order. One instance.
 */
export class CaBudgetQueue extends DurableObject<Env> {
  readonly #queues = new Map<string, FairQueue>();

  /**
   * Waits for the budget of `directoryUrl` under `limits` for `request`, at most `maxWaitMs`: the
   * buckets spent, or the bucket that holds it back when the wait would be longer.
   */
  async admit(directoryUrl: string, limits: CaLimits, request: AdmissionRequest, maxWaitMs: number): Promise<QueueAnswer> {
    const queue = await this.#queue(directoryUrl, limits);
    try {
      return { spent: [...(await queue.admit(request, undefined, maxWaitMs))] };
    } catch (err) {
      if (err instanceof BudgetSpentError) return { blockedBy: err.blockedBy };
      throw err;
    }
  }

  /** The orders waiting here now, in the order they will go. */
  queued(): QueuedOrder[] {
    return [...this.#queues.values()].flatMap((q) => q.queued());
  }

  async #queue(directoryUrl: string, limits: CaLimits): Promise<FairQueue> {
    // Limits come with each call: a new CA_LIMITS after a deploy gets a queue of its own.
    const key = JSON.stringify([directoryUrl, limits]);
    let queue = this.#queues.get(key);
    if (!queue) {
      const { encryption } = await readConfig(this.env);
      queue = new FairQueue(new FleetBudget({ storage: workerStorage(this.env, encryption), limits, ca: issuerKey(directoryUrl) }));
      this.#queues.set(key, queue);
    }
    return queue;
  }
}

/**
 * A manager's `budgetQueue` that waits in the deployment's {@link CaBudgetQueue}. Exempt orders (ARI
 * renewals) go at once without a call. When the queue cannot be reached, the invocation's own queue
 * takes the order (turns per invocation, as before) rather than failing it.
 */
export function sharedBudgetQueue(env: Env): (directoryUrl: string, budget: FleetBudget) => BudgetQueue {
  return (directoryUrl, budget) => {
    const local = new FairQueue(budget);
    let remote = 0;
    return {
      async admit(request, signal, maxWaitMs = Infinity) {
        if ((await budget.bucketsFor(request)).length === 0) return [];
        if (signal?.aborted) throw new EdgecertError("aborted", `waiting for the CA budget for ${request.names.join(", ")} was aborted`);
        let answer: QueueAnswer;
        remote++;
        try {
          const stub = env.CA_BUDGET_QUEUE.get(env.CA_BUDGET_QUEUE.idFromName("queue"));
          answer = await stub.admit(directoryUrl, budget.limits, { ...request, names: [...request.names] }, maxWaitMs);
        } catch (err) {
          console.warn(JSON.stringify({ level: "warn", event: "worker.budget_queue_unreachable", error: String(err) }));
          return local.admit(request, signal, maxWaitMs);
        } finally {
          remote--;
        }
        if ("spent" in answer) return answer.spent;
        throw new BudgetSpentError(request.names, answer.blockedBy, Date.now());
      },
      queued: () => local.queued(),
      get size() {
        return remote + local.size;
      },
    };
  };
}
