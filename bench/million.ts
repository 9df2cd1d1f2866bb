// 1,000,000 managed certificates (issue 26): in the Worker's renewal index (workerd), and in
// PostgresStorage and RedisStorage on private servers on 127.0.0.1 — bulk-filled (not through the ACME
// path), then a renewal pass at 1 % due (rows/keys read, wall, CPU), a list page and a search, storage
// bytes per certificate and memory. Takes minutes, so `npm run bench` runs it only with
// BENCH_MILLION=1; alone: `npx tsx bench/million.ts` (BENCH_MILLION_RECORDS, default 1,000,000;
// BENCH_MILLION_PASS=0 skips the storage backends' renewDue() pass, whose due certificates are renewed
// through the in-process stand-in CA).
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import pg from "pg";
import { RedisStorage } from "../src/storage/redis/redis-storage.ts";
import { fromNodeRedis } from "../src/storage/redis/redis-client.ts";
import { PostgresStorage } from "../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../src/storage/postgres/postgres-client.ts";
import type { DueIndex } from "../src/storage/due-index.ts";
import type { Storage } from "../src/storage/storage.ts";
import { keys } from "../src/manager/storage-keys.ts";
import { startRedis } from "../test/support/redis-server.ts";
import { startPostgres } from "../test/support/postgres-server.ts";
import { startPebble, type PebbleInstance } from "../test/support/pebble.ts";
import { bulkLoadPostgres } from "./fleet-storage.ts";
import { loadRecords, renewDuePass } from "./renew-due-pass.ts";
import { millionWorker } from "./million-worker.ts";
import { serverCpuSeconds, serverRssBytes } from "./process-usage.ts";

/** One storage backend's figures at `records` certificates. */
async function storageFigures(backend: "redis" | "postgres", storage: Storage & DueIndex, server: string, records: number, due: number, now: number, loadMs: number, bytes: () => Promise<number>, pass: boolean) {
  const storedBytes = await bytes();
  const timedStep = async <T>(step: () => Promise<T>) => {
    const cpu = serverCpuSeconds(server);
    const t0 = performance.now();
    const value = await step();
    return { value, wallMs: Math.round((performance.now() - t0) * 10) / 10, serverCpuMs: Math.round((serverCpuSeconds(server) - cpu) * 1000) };
  };
  const dueRead = await timedStep(() => storage.due(now, due + 1));
  const first = await timedStep(() => storage.list(keys.certificatePrefix, { limit: 50 }));
  const next = await timedStep(() => storage.list(keys.certificatePrefix, { limit: 50, ...(first.value.cursor ? { cursor: first.value.cursor } : {}) }));
  // The library's stores look names up by key prefix (no substring search: that is the Worker index's).
  const search = await timedStep(() => storage.list(`${keys.certificatePrefix}bench-77777`, { limit: 50 }));
  const serverCpu = serverCpuSeconds(server);
  const renewDue = pass ? await renewDuePass(storage, now, loadMs, due) : undefined;
  return {
    backend,
    records,
    due,
    loadS: Math.round(loadMs / 100) / 10,
    dueRead: { entries: dueRead.value.length, wallMs: dueRead.wallMs, serverCpuMs: dueRead.serverCpuMs },
    renewDue: renewDue ? { ...renewDue, serverCpuMs: Math.round((serverCpuSeconds(server) - serverCpu) * 1000) } : null,
    listPage: { keys: first.value.keys.length, wallMs: first.wallMs, nextPageWallMs: next.wallMs },
    prefixSearch: { keys: search.value.keys.length, wallMs: search.wallMs },
    storedBytes,
    bytesPerCertificate: Math.round(storedBytes / records),
    serverRssBytes: serverRssBytes(server),
  };
}

/** Runs the Worker index, PostgreSQL and Redis at `records` certificates, 1 % due. */
export async function millionBench(pebble: PebbleInstance, records = 1_000_000, pass = true) {
  const due = Math.round(records / 100);
  const now = Date.now();
  console.log(`  Worker renewal index, ${records.toLocaleString("en")} entries…`);
  const worker = await millionWorker(pebble, records, 0.01);

  console.log(`  PostgreSQL, ${records.toLocaleString("en")} records…`);
  const postgres = await startPostgres();
  const pool = new pg.Pool({ connectionString: postgres.url, max: 4 });
  pool.on("error", () => undefined);
  let pgFigures;
  try {
    const storage = new PostgresStorage({ client: fromPg(pool), table: "million" });
    await storage.migrate();
    const t0 = performance.now();
    await bulkLoadPostgres(pool, "million", now, records, due);
    await storage.put(keys.dueIndexReady, "{}");
    await pool.query("ANALYZE million");
    const bytes = async () => Number((await pool.query<{ n: string }>("SELECT pg_total_relation_size('million') AS n")).rows[0]!.n);
    pgFigures = await storageFigures("postgres", storage, "postgres", records, due, now, performance.now() - t0, bytes, pass);
  } finally {
    await pool.end();
    await postgres.stop();
  }

  console.log(`  Redis, ${records.toLocaleString("en")} records…`);
  const redis = await startRedis();
  const client = createClient({ url: redis.url });
  client.on("error", () => undefined);
  await client.connect();
  let redisFigures;
  try {
    const storage = new RedisStorage({ client: fromNodeRedis(client), prefix: "million" });
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info("memory"))?.[1] ?? NaN);
    const before = await usedMemory();
    const t0 = performance.now();
    await loadRecords(storage, now, 1_000, records, due);
    const loadMs = performance.now() - t0;
    redisFigures = await storageFigures("redis", storage, "redis-server", records, due, now, loadMs, async () => (await usedMemory()) - before, pass);
  } finally {
    await client.quit();
    await redis.stop();
  }
  return { worker, postgres: pgFigures, redis: redisFigures };
}

/** The figures as report lines. */
export function millionLines(m: Awaited<ReturnType<typeof millionBench>>): string[] {
  const w = m.worker;
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  const lines = [
    `  Worker renewal index (workerd, SQLite DO) at ${w.certificates.toLocaleString("en")}: tick claim of ${w.claim.claimed} due (1 %): ${w.claim.rowsRead} rows read, ${w.claim.wallMs} ms, workerd CPU ${w.claim.workerdCpuMs} ms; ` +
      w.pages.map((p) => `${p.query}: ${p.rows} rows ${"pages" in p ? `over ${p.pages} pages (the whole index, at most 5,000 rows read each) ` : ""}${p.wallMs} ms`).join("; ") +
      `; ${mb(w.databaseBytes)} database = ${w.bytesPerCertificate} B per certificate; workerd RSS ${mb(w.workerdRssBytes)}; bulk fill ${w.loadS} s`,
  ];
  for (const f of [m.postgres, m.redis]) {
    if (!f) continue;
    const r = f.renewDue;
    lines.push(
      `  ${f.backend} at ${f.records.toLocaleString("en")}: due-index read of ${f.dueRead.entries} (1 %) ${f.dueRead.wallMs} ms, server CPU ${f.dueRead.serverCpuMs} ms; ` +
        (r ? `renewDue() pass: ${r.renewed}/${r.due} renewed, ${r.keysRead} keys read (${r.certificatesRead} certificate records, ${r.listings} listings), ${(r.wallMs / 1000).toFixed(1)} s, client CPU ${(r.cpuMs / 1000).toFixed(1)} s, server CPU ${(r.serverCpuMs / 1000).toFixed(1)} s; ` : "renewDue() pass skipped; ") +
        `list page of ${f.listPage.keys} ${f.listPage.wallMs} ms (next ${f.listPage.nextPageWallMs} ms), prefix search ${f.prefixSearch.keys} keys ${f.prefixSearch.wallMs} ms; ` +
        `${mb(f.storedBytes)} stored = ${f.bytesPerCertificate} B per certificate; server RSS ${mb(f.serverRssBytes)}; bulk load ${f.loadS} s`,
    );
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const pebble = await startPebble({ noSleep: true });
  try {
    const m = await millionBench(pebble, Number(process.env.BENCH_MILLION_RECORDS ?? 1_000_000), process.env.BENCH_MILLION_PASS !== "0");
    console.log(millionLines(m).join("\n"));
    console.log(JSON.stringify(m));
  } finally {
    await pebble.stop();
  }
}
