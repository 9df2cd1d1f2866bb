// 1,000,000 managed certificates in the Worker's renewal index (a SQLite Durable Object, in workerd):
// bulk-filled through the index's upsertMany (not the ACME path), then the claim of a renewal tick at
// 1 % due, an admin list page (first, and by cursor near the end), a name search, the database's size
// and workerd's memory. Run from bench/million.ts.
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker } from "../test/support/worker.ts";
import { serverCpuSeconds, serverRssBytes } from "./process-usage.ts";

/** The index's RPC methods this bench calls beyond test/support/worker.ts's. */
interface MillionIndex {
  upsertMany(entries: unknown[]): Promise<void>;
  claimDue(now: number, limit: number, claimMs: number): Promise<{ entries: unknown[]; rowsRead: number }>;
  storageBytes(): Promise<number>;
  count(): Promise<number>;
}

/** One timed step: wall ms and workerd CPU ms. */
async function timed<T>(step: () => Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const cpu = serverCpuSeconds("workerd");
  const t0 = performance.now();
  const value = await step();
  return { value, wallMs: Math.round((performance.now() - t0) * 10) / 10, cpuMs: Math.round((serverCpuSeconds("workerd") - cpu) * 1000) };
}

/** The figures at `certificates` entries with `dueShare` due. */
export async function millionWorker(pebble: PebbleInstance, certificates: number, dueShare: number) {
  const worker = await startWorker(pebble, { port: 0 });
  try {
    const index = (await worker.index()) as unknown as MillionIndex;
    const now = Date.now();
    const due = Math.round(certificates * dueShare);
    const rssBefore = serverRssBytes("workerd");
    const load = await timed(async () => {
      for (let start = 0; start < certificates; start += 5_000) {
        const entries = [];
        for (let i = start; i < Math.min(certificates, start + 5_000); i++) {
          const id = `c${String(i).padStart(7, "0")}`;
          entries.push({ id, names: [`customer-${i}.saas.example`], dueAt: i % 100 === 0 ? now - 1_000 - i : now + 3_600_000 + i * 5_000, status: "valid", notAfter: now + 45 * 86_400_000, issuer: "CN=R13,O=Let's Encrypt,C=US", failures: 0, updatedAt: now });
        }
        await index.upsertMany(entries);
      }
    });
    const count = await index.count();
    const bytes = await index.storageBytes();
    const claim = await timed(() => index.claimDue(now, due, 15 * 60_000));
    const page = async (query: string) => {
      const step = await timed(async () => {
        const res = await worker.admin(`/admin/certificates?${query}`);
        return ((await res.json()) as { certificates?: unknown[] }).certificates?.length ?? -1;
      });
      return { query, rows: step.value, wallMs: step.wallMs, cpuMs: step.cpuMs };
    };
    // A search reads at most 5,000 rows a page (workers/bounded-scan.ts): walked page by page to the end, as a client does.
    const search = async (query: string) => {
      let pagesRead = 0;
      const step = await timed(async () => {
        let found = 0;
        let cursor: string | null = null;
        do {
          const res = await worker.admin(`/admin/certificates?${query}${cursor ? `&cursor=${cursor}` : ""}`);
          const body = (await res.json()) as { certificates?: unknown[]; cursor?: string | null };
          found += body.certificates?.length ?? 0;
          cursor = body.cursor ?? null;
          pagesRead++;
        } while (cursor && pagesRead < 100_000);
        return found;
      });
      return { query, rows: step.value, pages: pagesRead, wallMs: step.wallMs, cpuMs: step.cpuMs };
    };
    const pages = [await page("limit=50"), await page(`limit=50&cursor=c${String(certificates - 100).padStart(7, "0")}`), await search(`limit=50&q=customer-${Math.floor(certificates * 0.7)}.saas`)];
    return {
      certificates: count,
      due,
      loadS: Math.round(load.wallMs / 100) / 10,
      claim: { claimed: claim.value.entries.length, rowsRead: claim.value.rowsRead, wallMs: claim.wallMs, workerdCpuMs: claim.cpuMs },
      pages,
      databaseBytes: bytes,
      bytesPerCertificate: Math.round(bytes / count),
      workerdRssBytes: serverRssBytes("workerd"),
      workerdRssGrowthBytes: serverRssBytes("workerd") - rssBefore,
    };
  } finally {
    await worker.stop();
  }
}
