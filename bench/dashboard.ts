import type { PebbleInstance } from "../test/support/pebble.ts";
import { ADMIN_TOKEN, dashboardSignIn, startWorker } from "../test/support/worker.ts";
import { median } from "./measure.ts";

/** Milliseconds from request to the last byte of the answer, loopback to workerd: the Worker's time plus a local round trip. */
async function timed(url: URL, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url.pathname}${url.search}: HTTP ${res.status}`);
  return performance.now() - started;
}

/**
 * The dashboard and the admin listing at `certificates` certificates (issue 25 defect 10, issue 26):
 * server time of the dashboard's first page, a page deep in the cursor walk, a name search and a state
 * filter, and of the API's list page and search — the median of `runs` requests each.
 */
export async function dashboardBench(pebble: PebbleInstance, certificates: number, runs: number) {
  const worker = await startWorker(pebble);
  try {
    const index = await worker.index();
    const now = Date.now();
    const statuses = ["valid", "valid", "valid", "valid", "valid", "valid", "valid", "failing", "failed", "pending"];
    for (let start = 0; start < certificates; start += 5_000) {
      const entries = [];
      for (let i = start; i < Math.min(certificates, start + 5_000); i++) {
        entries.push({ id: `dash-${String(i).padStart(7, "0")}`, names: [`shop${i}.example.test`, `www.shop${i}.example.test`], dueAt: now + 86_400_000 + i, status: statuses[i % statuses.length], ...(statuses[i % statuses.length] === "valid" || statuses[i % statuses.length] === "failing" ? { issuer: "CN=Bench Intermediate CA", notAfter: now + 60 * 86_400_000 } : {}), failures: 0, updatedAt: now });
      }
      await index.upsertMany(entries);
    }
    const deepCursor = `dash-${String(Math.max(0, certificates - 60)).padStart(7, "0")}`;
    const { cookie } = await dashboardSignIn(worker);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const cases: Array<[string, string, Record<string, string>]> = [
      ["dashboard, first page (50 rows)", "/admin/", { cookie }],
      [`dashboard, a page near the end (cursor)`, `/admin/?cursor=${deepCursor}`, { cookie }],
      ["dashboard, name search", `/admin/?q=shop${Math.floor(certificates / 2)}.example`, { cookie }],
      ["dashboard, state filter (failed)", "/admin/?state=failed", { cookie }],
      ["API list page (limit 50)", "/admin/certificates?limit=50", auth],
      ["API list page near the end", `/admin/certificates?limit=50&cursor=${deepCursor}`, auth],
      ["API name search", `/admin/certificates?q=shop${Math.floor(certificates / 3)}.example`, auth],
      ["API state filter, 200 a page", "/admin/certificates?state=failing&limit=200", auth],
    ];
    const results: Array<{ what: string; path: string; medianMs: number; runs: number }> = [];
    for (const [what, path, headers] of cases) {
      await timed(new URL(path, worker.url), headers); // warm: the first request also starts the isolate's caches
      const samples: number[] = [];
      for (let r = 0; r < runs; r++) samples.push(await timed(new URL(path, worker.url), headers));
      results.push({ what, path, medianMs: Math.round(median(samples) * 10) / 10, runs });
    }
    return { certificates, results };
  } finally {
    await worker.stop();
  }
}
