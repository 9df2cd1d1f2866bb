import type { BucketRef, FleetBudget } from "./fleet-budget.ts";
import { available, spend, type BucketState } from "./token-bucket.ts";

/** What a simulated spend gave: a grant, or the bucket that refused and when it would not. */
export type SimulatedSpend = { readonly ok: true } | { readonly ok: false; readonly bucket: BucketRef; readonly retryAt: number };

/**
 * The budget's buckets as read once, at one instant, with spends simulated on top: the fair queue
 * walks the whole fleet's queue in order and hands each bucket's tokens out on this copy, so every
 * process deciding from the same records decides the same (see `FairQueue`). Nothing here writes:
 * real spends go through {@link FleetBudget.trySpend}, which alone guards the budget.
 */
export class BudgetSnapshot {
  readonly #states = new Map<string, BucketState | undefined>();

  /** A snapshot of `budget` at `now` (buckets are read as they are first needed). */
  constructor(
    private readonly budget: FleetBudget,
    readonly now: number,
  ) {}

  /** Reads the buckets of `refs` not read yet. */
  async load(refs: readonly BucketRef[]): Promise<void> {
    for (const ref of refs) if (!this.#states.has(ref.key)) this.#states.set(ref.key, await this.budget.state(ref));
  }

  /** Tokens bucket `ref` holds in this snapshot (after the spends simulated so far). Load it first. */
  available(ref: BucketRef): number {
    return available(ref.limit, this.#states.get(ref.key), this.now);
  }

  /** The bucket of `refs` that would refuse a spend now, and until when (undefined: none would). Load them first. */
  wait(refs: readonly BucketRef[]): { bucket: BucketRef; retryAt: number } | undefined {
    let refused: { bucket: BucketRef; retryAt: number } | undefined;
    for (const ref of refs) {
      const result = spend(ref.limit, this.#states.get(ref.key), this.now, 1, this.budget.marginMs);
      if (!result.ok && (!refused || result.retryAt > refused.retryAt)) refused = { bucket: ref, retryAt: result.retryAt };
    }
    return refused;
  }

  /** Spends one token from every bucket of `refs` in this snapshot, all or none (as `trySpend` would). Load them first. */
  take(refs: readonly BucketRef[]): SimulatedSpend {
    const refused = this.wait(refs);
    if (refused) return { ok: false, ...refused };
    for (const ref of refs) {
      const result = spend(ref.limit, this.#states.get(ref.key), this.now, 1, this.budget.marginMs);
      if (result.ok) this.#states.set(ref.key, result.next);
    }
    return { ok: true };
  }
}
