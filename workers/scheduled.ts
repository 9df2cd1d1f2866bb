import { readConfig } from "./config.ts";
import { renewalIndex, type IndexEntry, type InvocationSummary } from "./renewal-index.ts";
import { boundedCalls, INVOCATION_CONCURRENCY, type ChunkResult } from "./renewal-dispatcher.ts";
import type { Env } from "./env.ts";
import type { RenewerResult } from "./certificate-renewer.ts";

/** How long a dispatched entry stays claimed before a later tick may pick it up again (a cron invocation's wall limit). */
const CLAIM_MS = 15 * 60_000;
/** Dispatcher instances chunks are spread over (Durable Objects run one thread each; 64 is past a tick's 6 at once). */
const DISPATCHER_INSTANCES = 64;

/** What one tick did: the index rows SQLite read, and each dispatched renewal. */
export interface TickResult {
  /** Set when the tick did nothing because a variable is wrong (it names it). */
  skipped?: string;
  rowsRead: number;
  dispatched: number;
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
 * makes 2 + ⌈batch / chunk⌉ subrequests, a dispatcher `chunk`, whatever the batch.
 */
export async function tick(env: Env, at: number): Promise<TickResult> {
  let batch: number;
  let chunk: number;
  try {
    ({ renewBatch: batch, renewChunk: chunk } = await readConfig(env));
  } catch (err) {
    // A bad variable must not make every tick throw: say which one, and leave the index untouched.
    const message = err instanceof Error ? err.message : String(err);
    console.error(JSON.stringify({ level: "error", event: "worker.tick_skipped", reason: "configuration_error", message }));
    return { skipped: message, rowsRead: 0, dispatched: 0, results: [] };
  }
  const index = renewalIndex(env);
  const { entries, rowsRead } = await index.claimDue(at, batch, CLAIM_MS);
  const chunks = chunksOf(entries, chunk);
  const numbered = chunks.map((part, n) => ({ part, n }));
  const dispatch = await boundedCalls(numbered, INVOCATION_CONCURRENCY, async ({ part, n }: { part: IndexEntry[]; n: number }): Promise<ChunkResult> => {
    // Spread over a handful of instances; none holds state, so which one answers does not matter.
    const stub = env.RENEWAL_DISPATCHER.get(env.RENEWAL_DISPATCHER.idFromName(`dispatch-${n % DISPATCHER_INSTANCES}`));
    try {
      return await stub.renewChunk(part, at, at + CLAIM_MS);
    } catch (err) {
      // The chunk's entries stay claimed until CLAIM_MS: a later tick takes them again.
      return { subrequests: 0, maxInFlight: 0, results: part.map((e) => ({ id: e.id, outcome: "failed" as const, dueAt: at + CLAIM_MS, error: String(err) })) };
    }
  });
  const results = dispatch.results.flatMap((r) => r.results);
  const outcomes: Record<string, number> = {};
  for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const invocations: InvocationSummary = {
    // claimDue and recordTick beside the dispatcher calls.
    tick: { subrequests: dispatch.subrequests + 2, maxInFlight: dispatch.maxInFlight },
    dispatchers: dispatch.results.length,
    dispatcherMaxSubrequests: Math.max(0, ...dispatch.results.map((r) => r.subrequests)),
    dispatcherMaxInFlight: Math.max(0, ...dispatch.results.map((r) => r.maxInFlight)),
  };
  await index.recordTick({ at, rowsRead, dispatched: entries.length, outcomes, invocations });
  return { rowsRead, dispatched: entries.length, results };
}
