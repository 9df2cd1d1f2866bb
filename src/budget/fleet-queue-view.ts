import { queuedKind, type QueuedKind, type QueuedOrder } from "./fair-queue.ts";
import type { BucketRef, FleetBudget } from "./fleet-budget.ts";
import { decodeOrder, decodeProcess, QueueLayout, turnOrder } from "./queue-records.ts";
import { spend, type BucketState } from "./token-bucket.ts";

/** Options for {@link fleetQueue}. */
export interface FleetQueueOptions {
  /** The instant the view is for (epoch ms), by the budget's clock. Default `Date.now()`. */
  readonly now?: number;
  /** Most orders read and estimated (one storage read each); the rest only count in `total`. Default 5,000. */
  readonly maxOrders?: number;
}

/** The fleet's queue for one CA's budget, as {@link fleetQueue} reads it. */
export interface FleetQueue {
  /** Waiting orders (up to `maxOrders`), position 1 first. */
  readonly orders: QueuedOrder[];
  /** Orders waiting in the whole fleet. */
  readonly total: number;
}

/** Rounds beyond one per order (each round sends at least one order, or moves time to a refill). */
const MAX_ESTIMATE_STEPS = 16;

/**
 * Every order waiting for a CA's budget in the whole fleet — what any process sharing the storage
 * queued, not just this one's (`FairQueue.queued`) — as views show it (`edgecert list`). Read only:
 * from the queue's records (`QueueLayout`), skipping the orders of processes whose lease lapsed.
 *
 * The orders are taken in the queue's fair order (renewals by expiry, then first issuances turn by
 * turn across registered domains) and sent, in a simulation of the queue's walks on the buckets as
 * stored now (refilling at their limits), when every bucket each needs holds a token (see
 * `simulate`). That time is `estimatedAt`; `position` ranks by it (an order held back by its own
 * domain's bucket lets later orders of other domains go first); `blockedBy` is the bucket that holds
 * it back now. An estimate: orders queued later, a CA's pause, and a critical domain going out of turn
 * move it.
 */
export async function fleetQueue(budget: FleetBudget, options: FleetQueueOptions = {}): Promise<FleetQueue> {
  const storage = budget.storage;
  const layout = new QueueLayout(budget);
  const now = options.now ?? Date.now();
  const max = options.maxOrders ?? 5_000;
  const live = new Set<string>();
  for (const key of await listAll(budget, layout.processes)) {
    const entry = await storage.getEntry(key);
    const record = entry ? decodeProcess(entry.value) : undefined;
    if (record && record.until > now) live.add(key.slice(layout.processes.length));
  }
  const ofLive = (keys: string[]) => keys.flatMap((key) => {
    const parsed = layout.parseOrder(key);
    return parsed && live.has(parsed.owner) ? [{ key, ...parsed }] : [];
  });
  const renewals = ofLive(await listAll(budget, layout.renewals));
  const firsts = ofLive(await listAll(budget, layout.firstIssuances));
  const order = (o: (typeof firsts)[number]) => turnOrder(o.turn ?? 0, o.domainId ?? "");
  firsts.sort((a, b) => {
    const oa = order(a);
    const ob = order(b);
    return oa < ob ? -1 : oa > ob ? 1 : a.key < b.key ? -1 : 1;
  });
  const fair = [...renewals, ...firsts];

  // The orders (as many as read), in fair order, with their buckets as stored now.
  const states = new Map<string, BucketState | undefined>();
  const waiting: Waiter[] = [];
  for (const [index, { key }] of fair.slice(0, max).entries()) {
    const entry = await storage.getEntry(key);
    const stored = entry ? decodeOrder(entry.value, (kind) => budget.limitOf(kind)) : undefined;
    if (!stored || stored.refs.length === 0) continue;
    for (const ref of stored.refs) if (!states.has(ref.key)) states.set(ref.key, await budget.state(ref));
    waiting.push({ index, id: stored.id, names: stored.names, kind: queuedKind(stored), refs: stored.refs });
  }
  const views = await Promise.all(
    simulate(waiting, states, now, budget.marginMs).map(async (w) => {
      const view = { index: w.index, id: w.id, names: w.names, estimatedAt: w.at!, renewal: w.kind === "renewal", kind: w.kind, registeredDomain: await budget.registeredDomain(w.names[0] ?? w.id) };
      return w.blockedBy ? { ...view, blockedBy: w.blockedBy } : view;
    }),
  );
  views.sort((a, b) => a.estimatedAt - b.estimatedAt || a.index - b.index);
  return { orders: views.map(({ index: _index, ...v }, i) => ({ ...v, position: i + 1 })), total: fair.length };
}

interface Waiter {
  readonly index: number;
  readonly id: string;
  readonly names: readonly string[];
  readonly kind: QueuedKind;
  readonly refs: readonly BucketRef[];
  at?: number;
  blockedBy?: QueuedOrder["blockedBy"];
}

/**
 * When each order is sent if the queue's walks go on as now (`QueueWalk`): at each instant, in fair
 * order, every order whose buckets all hold a token takes one; one held back by a registered domain's
 * or a name set's bucket lets the orders behind it go; one held back by the account's new-order
 * bucket stops the rest (they all need it). Then time moves to the earliest refill among the buckets
 * that held orders back. `blockedBy` is the bucket that holds an order back now.
 */
function simulate(waiting: Waiter[], states: Map<string, BucketState | undefined>, now: number, marginMs: number): Waiter[] {
  let pending = waiting;
  let t = now;
  let stoppedBy: QueuedOrder["blockedBy"];
  for (let round = 0; pending.length > 0 && round <= 2 * waiting.length + MAX_ESTIMATE_STEPS; round++) {
    const blocked = new Map<string, NonNullable<QueuedOrder["blockedBy"]>>();
    let next = Infinity;
    let stopped = false;
    const still: Waiter[] = [];
    for (const w of pending) {
      const held = stopped ? stoppedBy : w.refs.map((r) => blocked.get(r.key)).find((b) => b !== undefined);
      if (stopped || held) {
        if (t === now) w.blockedBy ??= held;
        still.push(w);
        continue;
      }
      let worst: { ref: BucketRef; retryAt: number } | undefined;
      for (const ref of w.refs) {
        const result = spend(ref.limit, states.get(ref.key), t, 1, marginMs);
        if (result.ok) continue;
        blocked.set(ref.key, { kind: ref.kind, subject: ref.subject, retryAt: result.retryAt });
        next = Math.min(next, result.retryAt);
        if (!worst || result.retryAt > worst.retryAt) worst = { ref, retryAt: result.retryAt };
        if (ref.kind === "orders") stopped = true;
      }
      if (!worst) {
        for (const ref of w.refs) {
          const result = spend(ref.limit, states.get(ref.key), t, 1, marginMs);
          if (result.ok) states.set(ref.key, result.next);
        }
        w.at = t;
        continue;
      }
      if (t === now) w.blockedBy ??= { kind: worst.ref.kind, subject: worst.ref.subject, retryAt: worst.retryAt };
      if (stopped) stoppedBy = blocked.get(w.refs.find((r) => r.kind === "orders" && blocked.has(r.key))!.key);
      still.push(w);
    }
    pending = still;
    if (!Number.isFinite(next)) break;
    t = Math.max(t, next);
  }
  // Past the bound (cannot happen with finite limits): counted as sent when their last wait ends.
  for (const w of pending) w.at ??= t;
  return waiting;
}

async function listAll(budget: FleetBudget, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await budget.storage.list(prefix, cursor ? { cursor } : {});
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor);
  return keys;
}
