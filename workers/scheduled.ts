import { readConfig } from "./config.ts";
import { renewalIndex } from "./renewal-index.ts";
import type { Env } from "./env.ts";
import type { RenewerResult } from "./certificate-renewer.ts";

/** How long a dispatched entry stays claimed before a later tick may pick it up again. */
const CLAIM_MS = 15 * 60_000;
/** Renewals running at once from one tick. */
const CONCURRENCY = 8;

/** What one tick did: the index rows SQLite read, and each dispatched renewal. */
export interface TickResult {
  /** Set when the tick did nothing because a variable is wrong (it names it). */
  skipped?: string;
  rowsRead: number;
  dispatched: number;
  results: RenewerResult[];
}

/**
 * One cron tick: claims what is due from the index (O(due) rows read, whatever the number of
 * certificates) and runs each in its own renewer invocation, a bounded number at a time.
 */
export async function tick(env: Env, at: number): Promise<TickResult> {
  let batch: number;
  try {
    batch = (await readConfig(env)).renewBatch;
  } catch (err) {
    // A bad variable must not make every tick throw: say which one, and leave the index untouched.
    const message = err instanceof Error ? err.message : String(err);
    console.error(JSON.stringify({ level: "error", event: "worker.tick_skipped", reason: "configuration_error", message }));
    return { skipped: message, rowsRead: 0, dispatched: 0, results: [] };
  }
  const index = renewalIndex(env);
  const { entries, rowsRead } = await index.claimDue(at, batch, CLAIM_MS);
  const results: RenewerResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const entry = entries[next++]!;
      const stub = env.CERTIFICATE_RENEWER.get(env.CERTIFICATE_RENEWER.idFromName(entry.id));
      try {
        results.push(await stub.run(entry, at));
      } catch (err) {
        results.push({ id: entry.id, outcome: "failed", dueAt: at + CLAIM_MS, error: String(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  const outcomes: Record<string, number> = {};
  for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  await index.recordTick({ at, rowsRead, dispatched: entries.length, outcomes });
  return { rowsRead, dispatched: entries.length, results };
}
