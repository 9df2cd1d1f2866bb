// What one searched admin listing page costs in storage at N records where few match (issue 26):
// deploy tokens in storage operations on the Durable Object store (Workers subrequests; Workers Free
// allows 50 per invocation, Paid 1,000), certificates in rows SQLite reads in the renewal index.
import { MAX_ROWS_SCANNED } from "../workers/bounded-scan.ts";
import { tokenSearchCost } from "../test/support/token-search-cost.ts";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker } from "../test/support/worker.ts";

/** Storage operations per page of a token search with 1 match in 4,000, walked to the end. */
export async function tokenListingBench(tokens: number) {
  const { perPage, plainPage } = await tokenSearchCost(tokens);
  return { tokens, pages: perPage.length, maxOperationsPerSearchedPage: Math.max(...perPage), operationsPerPlainPage: plainPage };
}

/** Rows read per page of a certificate name search (1 match in 4,000) and a state filter, in the Worker's index in workerd. */
export async function certificateListingBench(pebble: PebbleInstance, certificates: number) {
  const worker = await startWorker(pebble);
  try {
    const index = (await worker.index()) as unknown as {
      upsertMany(entries: unknown[]): Promise<void>;
      list(after: string | undefined, limit: number, filter: { like?: string; status?: string }): Promise<{ entries: unknown[]; cursor?: string; rowsRead: number }>;
    };
    const now = Date.now();
    for (let start = 0; start < certificates; start += 5_000) {
      const entries = [];
      for (let i = start; i < Math.min(certificates, start + 5_000); i++) {
        const rare = i % 4_000 === 1_999;
        entries.push({ id: `lb-${String(i).padStart(7, "0")}`, names: [rare ? `rare-${i}.bench.test` : `c${i}.bench.test`], dueAt: now + 86_400_000, status: rare ? "failed" : "valid", failures: 0, updatedAt: now });
      }
      await index.upsertMany(entries);
    }
    const rows: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await index.list(cursor, 50, { like: "%rare-%" });
      rows.push(page.rowsRead);
      cursor = page.cursor;
    } while (cursor);
    const state = await index.list(undefined, 50, { status: "failed" });
    return { certificates, pages: rows.length, maxRowsPerSearchedPage: Math.max(...rows), rowsPerStatePage: state.rowsRead, rowsLookedAt: MAX_ROWS_SCANNED };
  } finally {
    await worker.stop();
  }
}
