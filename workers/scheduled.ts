import { readConfig } from "./config.ts";
import { caLimitsFor, type CaLimits } from "../src/budget/ca-limits.ts";
import { fairDispatchOrder } from "./dispatch-order.ts";
import { registeredDomains } from "./registered-domains.ts";
import { renewalIndex, type IndexEntry, type InvocationSummary } from "./renewal-index.ts";
import { budgetQueue } from "./ca-budget-queue.ts";
import { boundedCalls, INVOCATION_CONCURRENCY, type ChunkResult } from "./renewal-dispatcher.ts";
import type { Env } from "./env.ts";
import type { RenewerResult } from "./certificate-renewer.ts";

/** How long a dispatched entry stays claimed before a later tick may pick it up again (a cron invocation's wall limit). */
const CLAIM_MS = 15 * 60_000;
/**
 * Chunks are handed out only this long after the tick started; the entries of those not started by then
 * are given back to the index, due as before, for the next ticks. The chunks under way finish within the
 * cron invocation's 15 minutes of wall time (a chunk takes ⌈RENEW_CHUNK / 6⌉ renewals one after another:
 * at ~4 s a renewal and the default 25, about 20 s), so a tick never outlives its invocation or its
 * claims, however slow the CA or large RENEW_BATCH.
 */
export const DISPATCH_WINDOW_MS = 10 * 60_000;
/** Dispatcher instances chunks are spread over (Durable Objects run one thread each; 64 is past a tick's 6 at once). */
const DISPATCHER_INSTANCES = 64;

/** What one tick did: the index rows SQLite read, and each dispatched renewal. */
export interface TickResult {
  /** Set when the tick did nothing because a variable is wrong (it names it). */
  skipped?: string;
  rowsRead: number;
  /** Entries claimed, and the most it could claim (RENEW_BATCH). */
  claimed: number;
  batch: number;
  /** Entries handed to dispatchers. */
  dispatched: number;
  /** Entries claimed but given back: their chunks not started within {@link DISPATCH_WINDOW_MS}, and those held back. */
  released: number;
  results: RenewerResult[];
}

/** `entries` in chunks of at most `size`. */
function chunksOf<T>(entries: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < entries.length; i += size) chunks.push(entries.slice(i, i + size));
  return chunks;
}

/**
 * One cron tick: claims up to RENEW_BATCH due entries from the index (O(due) rows read, whatever the
 * number of certificates), splits them into chunks of RENEW_CHUNK and hands each chunk to a
 * {@link RenewalDispatcher} invocation, {@link INVOCATION_CONCURRENCY} chunks at a time; each dispatcher
 * runs its certificates' renewals, each in its own renewer invocation, 6 at a time. This invocation
 * makes 2 + ⌈batch / chunk⌉ subrequests (one more when it gives entries back), a dispatcher `chunk`,
 * whatever the batch. `clock` tells the time (a simulation's own clock in tests). `record: false` (an
 * extra tick from the kick alarm, see `kickTick`) leaves the last cron tick's record as it is;
 * `onFull` runs before any is dispatched when the tick claimed a full batch and held none back.
 */
export async function tick(
  env: Env,
  at: number,
  clock: () => number = Date.now,
  options: { record?: boolean; onFull?: () => Promise<void> } = {},
): Promise<TickResult> {
  const started = clock();
  let batch: number;
  let chunk: number;
  let limits: CaLimits | undefined;
  let queueMax: number;
  let directoryUrl: string;
  try {
    const config = await readConfig(env);
    ({ renewBatch: batch, renewChunk: chunk, queueMax, directoryUrl } = config);
    limits = config.caLimits ?? caLimitsFor(config.directoryUrl);
  } catch (err) {
    // A bad variable must not make every tick throw: say which one, and leave the index untouched.
    const message = err instanceof Error ? err.message : String(err);
    console.error(JSON.stringify({ level: "error", event: "worker.tick_skipped", reason: "configuration_error", message }));
    return { skipped: message, rowsRead: 0, claimed: 0, batch: 0, dispatched: 0, released: 0, results: [] };
  }
  const index = renewalIndex(env);
  // First issuances only up to the room the CA budget's queue has now (renewals always go); each chunk
  // reserves its own (renewChunk), so only renewals about to start hold room. The rest stay due, and the
  // queue kicks a tick for them once it has drained.
  const room = limits ? await budgetQueue(env).room(batch, queueMax).catch(() => batch) : batch;
  const { entries, rowsRead, backlog } = await index.claimDue(at, batch, CLAIM_MS, room, { queueMax, orders: limits?.newOrdersPerAccount, domain: limits?.certificatesPerRegisteredDomain });
  // Before this claim's orders arrive: the queue orders them by the whole backlog, not only what waits there.
  if (limits) await budgetQueue(env).backlog(directoryUrl, limits, backlog).catch(() => undefined);
  // Renewals first, then first issuances taking turns across registered domains (see dispatchOrder).
  const ordered = await dispatchOrder(entries, limits);
  const firsts = ordered.filter((e) => e.notAfter === undefined).length;
  // The room was all taken and more could have been claimed: first issuances were held back.
  const beyondRoom = firsts === room ? Math.max(0, batch - (entries.length - firsts) - room) : 0;
  if (entries.length >= batch && !beyondRoom) await options.onFull?.();
  const chunks = chunksOf(ordered, chunk);
  const numbered = chunks.map((part, n) => ({ part, n }));
  const dispatch = await boundedCalls(
    numbered,
    INVOCATION_CONCURRENCY,
    async ({ part, n }: { part: IndexEntry[]; n: number }): Promise<ChunkResult> => {
      // Spread over a handful of instances; none holds state, so which one answers does not matter.
      const stub = env.RENEWAL_DISPATCHER.get(env.RENEWAL_DISPATCHER.idFromName(`dispatch-${n % DISPATCHER_INSTANCES}`));
      try {
        return await stub.renewChunk(part, at, at + CLAIM_MS, limits ? queueMax : undefined);
      } catch (err) {
        // The chunk's entries stay claimed until CLAIM_MS: a later tick takes them again.
        return { subrequests: 0, maxInFlight: 0, results: part.map((e) => ({ id: e.id, outcome: "failed" as const, dueAt: at + CLAIM_MS, error: String(err) })) };
      }
    },
    () => clock() - started >= DISPATCH_WINDOW_MS,
  );
  // Chunks not started in time: back to the index, so the next ticks take them at once instead of when
  // this tick's claim lapses.
  const notStarted = dispatch.untaken.flatMap((c) => c.part);
  const released = notStarted.length > 0 ? await index.release(notStarted, at + CLAIM_MS) : 0;
  const heldBack = dispatch.results.reduce((n, r) => n + (r.held ?? 0), 0);
  const untaken = notStarted.length + heldBack;
  const results = dispatch.results.flatMap((r) => r.results);
  const outcomes: Record<string, number> = {};
  for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const invocations: InvocationSummary = {
    // claimDue and recordTick beside the dispatcher calls, the queue's room and backlog, and release when entries went back.
    tick: { subrequests: dispatch.subrequests + 2 + (limits ? 2 : 0) + (notStarted.length > 0 ? 1 : 0), maxInFlight: dispatch.maxInFlight },
    dispatchers: dispatch.results.length,
    dispatcherMaxSubrequests: Math.max(0, ...dispatch.results.map((r) => r.subrequests)),
    dispatcherMaxInFlight: Math.max(0, ...dispatch.results.map((r) => r.maxInFlight)),
  };
  const dispatched = entries.length - untaken;
  const held = heldBack + beyondRoom > 0 ? { heldBack: heldBack + beyondRoom } : {};
  if (options.record !== false) await index.recordTick({ at, rowsRead, dispatched, ...(untaken > 0 ? { released: untaken } : {}), ...held, outcomes, invocations });
  return { rowsRead, claimed: entries.length, batch, dispatched, released, results };
}

/**
 * {@link fairDispatchOrder} by each entry's first name's registered domain (the Public Suffix List,
 * with CA_LIMITS' own suffixes). When the list cannot be read, the entries stay in due order: the tick
 * goes on, less fairly.
 */
export async function dispatchOrder<T extends { id: string; names: string[]; notAfter?: number | undefined }>(entries: readonly T[], limits: CaLimits | undefined): Promise<T[]> {
  if (!limits || entries.every((e) => e.notAfter !== undefined)) return [...entries];
  const domainOf = await registeredDomains(limits);
  return domainOf ? fairDispatchOrder(entries, (e) => domainOf(e.names[0] ?? e.id)) : [...entries];
}
