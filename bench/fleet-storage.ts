// Fleet storage figures: lock acquire+release latency per backend (median, p99), one due-index read
// over 100,000 records of which 100 are due (entries read, wall time), and a whole renewDue() pass over
// 100,000 stored certificate records with 100 due (keys read, wall time, the 100 renewed through the
// in-process stand-in CA), against private redis-server and PostgreSQL instances on 127.0.0.1, and the
// renewDue() pass on Deno KV (local SQLite) in the deno binary.
// Run alone with `npx tsx bench/fleet-storage.ts`, or from bench/run.ts.
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
import { quantile } from "./measure.ts";
import { benchRecord, loadRecords, RECORDS, renewDuePass, type RenewDueFigures } from "./renew-due-pass.ts";
import { denoKvRenewDue } from "./deno-kv-renew-due.ts";
import { startRedis } from "../test/support/redis-server.ts";
import { startPostgres } from "../test/support/postgres-server.ts";

const LOCK_RUNS = 300;

/** One backend's figures. */
export interface FleetStorageFigures {
  backend: string;
  lockMedianMs: number;
  lockP99Ms: number;
  dueRecords: number;
  dueRead: number;
  duePassMs: number;
  /** One renewDue() pass over {@link dueRecords} stored certificates, {@link RenewDueFigures.due} of them due. */
  renewDue: RenewDueFigures;
}

async function measure(backend: string, storage: Storage & DueIndex, now: number, loadMs: number): Promise<FleetStorageFigures> {
  const times: number[] = [];
  for (let i = 0; i < LOCK_RUNS; i++) {
    const started = performance.now();
    const lease = await storage.lock("bench/lock", { ttlMs: 10_000, waitMs: 0 });
    await lease.release();
    times.push(performance.now() - started);
  }
  const passes: number[] = [];
  let read = 0;
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    read = (await storage.due(now, 1000)).length;
    passes.push(performance.now() - started);
  }
  const renewDue = await renewDuePass(storage, now, loadMs);
  return { backend, lockMedianMs: quantile(times, 0.5), lockP99Ms: quantile(times, 0.99), dueRecords: RECORDS, dueRead: read, duePassMs: quantile(passes, 0.5), renewDue };
}

/**
 * Fills PostgresStorage table `table` with `records` certificate records (`dueCount` due) and their due
 * entries by multi-row inserts of 2,000 (the JSON made here, the versions from the table's sequence).
 */
export async function bulkLoadPostgres(pool: pg.Pool, table: string, now: number, records: number, dueCount?: number): Promise<void> {
  for (let i = 0; i < records; i += 2_000) {
    const batch = Array.from({ length: Math.min(2_000, records - i) }, (_, j) => benchRecord(i + j, now, dueCount));
    await pool.query(
      `INSERT INTO ${table} (kind, key, value, version) SELECT 'v', k, convert_to(v, 'UTF8'), nextval('${table}_version') FROM unnest($1::text[], $2::text[]) AS t(k, v)`,
      [batch.map((r) => keys.certificate(r.id)), batch.map((r) => JSON.stringify(r))],
    );
    await pool.query(`INSERT INTO ${table} (kind, key, due_at) SELECT 'd', k, d FROM unnest($1::text[], $2::bigint[]) AS t(k, d)`, [
      batch.map((r) => r.id),
      batch.map((r) => String(r.renewal.renewAt)),
    ]);
  }
}

/** Runs the fleet storage figures on Redis and PostgreSQL. */
export async function fleetStorageBench(): Promise<FleetStorageFigures[]> {
  const now = Date.now();
  // 100 due in the past, the rest spread over the next 60 days (benchRecord).
  const out: FleetStorageFigures[] = [];

  const redis = await startRedis();
  const client = createClient({ url: redis.url });
  client.on("error", () => undefined);
  await client.connect();
  const redisStorage = new RedisStorage({ client: fromNodeRedis(client), prefix: "bench" });
  let started = performance.now();
  // Through the storage API (each put is one script; node-redis pipelines what is in flight).
  await loadRecords(redisStorage, now, 500);
  out.push(await measure("redis", redisStorage, now, performance.now() - started));
  await client.quit();
  await redis.stop();

  const postgres = await startPostgres();
  const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  // An idle client hears the server's shutdown (57P01) as an 'error' event: without a listener it
  // would end the whole bench before its report.
  pool.on("error", () => undefined);
  const storage = new PostgresStorage({ client: fromPg(pool), table: "bench" });
  await storage.migrate();
  started = performance.now();
  await bulkLoadPostgres(pool, "bench", now, RECORDS);
  await storage.put(keys.dueIndexReady, "{}");
  await pool.query("ANALYZE bench");
  out.push(await measure("postgres", storage, now, performance.now() - started));
  await pool.end();
  await postgres.stop();

  // Deno KV: the pass runs in the deno binary, on a local Deno KV (SQLite), loaded through the storage API.
  const deno = await denoKvRenewDue();
  if (deno) out.push({ backend: "deno-kv", lockMedianMs: NaN, lockP99Ms: NaN, dueRecords: RECORDS, dueRead: NaN, duePassMs: NaN, renewDue: deno });
  return out;
}

/** One backend's figures as a report line. */
export function fleetStorageLine(f: FleetStorageFigures): string {
  const r = f.renewDue;
  return (
    `fleet storage ${f.backend}: ` +
    (Number.isNaN(f.lockMedianMs)
      ? ""
      : `lock acquire+release median ${f.lockMedianMs.toFixed(2)} ms, p99 ${f.lockP99Ms.toFixed(2)} ms; ` +
        `due-index read over ${f.dueRecords.toLocaleString("en")} records: ${f.dueRead} read in ${f.duePassMs.toFixed(2)} ms; `) +
    `renewDue() pass over ${f.dueRecords.toLocaleString("en")} records with ${r.due} due: ${r.renewed} renewed, ${r.keysRead} keys read ` +
    `(${r.certificatesRead} certificate records, ${r.listings} listings), ${r.wallMs.toFixed(0)} ms (stand-in CA in process; bulk load ${(r.loadMs / 1000).toFixed(1)} s)`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of await fleetStorageBench()) {
    console.log(fleetStorageLine(f));
  }
}
