// Fleet storage figures: lock acquire+release latency per backend (median, p99) and one due-index read
// over 100,000 records of which 100 are due (entries read, wall time), against private redis-server and
// PostgreSQL instances on 127.0.0.1. Run alone with `npx tsx bench/fleet-storage.ts`, or from bench/run.ts.
// Note: this measures the DueIndex a renewDue() pass would read; renewDue() itself does not use it yet.
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import pg from "pg";
import { RedisStorage } from "../src/storage/redis/redis-storage.ts";
import { fromNodeRedis } from "../src/storage/redis/redis-client.ts";
import { PostgresStorage } from "../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../src/storage/postgres/postgres-client.ts";
import type { DueIndex } from "../src/storage/due-index.ts";
import type { Storage } from "../src/storage/storage.ts";
import { startRedis } from "../test/support/redis-server.ts";
import { startPostgres } from "../test/support/postgres-server.ts";

const RECORDS = 100_000;
const DUE = 100;
const LOCK_RUNS = 300;

/** One backend's figures. */
export interface FleetStorageFigures {
  backend: string;
  lockMedianMs: number;
  lockP99Ms: number;
  dueRecords: number;
  dueRead: number;
  duePassMs: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(backend: string, storage: Storage & DueIndex, now: number): Promise<FleetStorageFigures> {
  const times: number[] = [];
  for (let i = 0; i < LOCK_RUNS; i++) {
    const started = performance.now();
    const lease = await storage.lock("bench/lock", { ttlMs: 10_000, waitMs: 0 });
    await lease.release();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const passes: number[] = [];
  let read = 0;
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    read = (await storage.due(now, 1000)).length;
    passes.push(performance.now() - started);
  }
  passes.sort((a, b) => a - b);
  return { backend, lockMedianMs: quantile(times, 0.5), lockP99Ms: quantile(times, 0.99), dueRecords: RECORDS, dueRead: read, duePassMs: quantile(passes, 0.5) };
}

/** Runs the fleet storage figures on Redis and PostgreSQL. */
export async function fleetStorageBench(): Promise<FleetStorageFigures[]> {
  const now = Date.now();
  // 100 due in the past, the rest spread over the next 60 days.
  const dueAt = (i: number) => (i < DUE ? now - 1_000 - i : now + 3_600_000 + i * 50_000);
  const out: FleetStorageFigures[] = [];

  const redis = await startRedis();
  const client = createClient({ url: redis.url });
  client.on("error", () => undefined);
  await client.connect();
  await client.zAdd("{bench}:due", Array.from({ length: RECORDS }, (_, i) => ({ score: dueAt(i), value: `cert-${i}` })));
  out.push(await measure("redis", new RedisStorage({ client: fromNodeRedis(client), prefix: "bench" }), now));
  await client.quit();
  await redis.stop();

  const postgres = await startPostgres();
  const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  const storage = new PostgresStorage({ client: fromPg(pool), table: "bench" });
  await storage.migrate();
  await pool.query(`INSERT INTO bench (kind, key, due_at) SELECT 'd', 'cert-' || i, CASE WHEN i < $1 THEN $2::bigint - 1000 - i::bigint ELSE $3::bigint + i::bigint * 50000 END FROM generate_series(0, $4 - 1) i`, [DUE, now, now + 3_600_000, RECORDS]);
  await pool.query("ANALYZE bench");
  out.push(await measure("postgres", storage, now));
  await pool.end();
  await postgres.stop();
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of await fleetStorageBench()) {
    console.log(`${f.backend}: lock acquire+release median ${f.lockMedianMs.toFixed(2)} ms, p99 ${f.lockP99Ms.toFixed(2)} ms; due pass over ${f.dueRecords} records read ${f.dueRead} in ${f.duePassMs.toFixed(2)} ms`);
  }
}
