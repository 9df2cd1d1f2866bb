// Fleet storage figures: lock acquire+release latency per backend (median, p99), one due-index read
// over 100,000 records of which 100 are due (entries read, wall time), and a whole renewDue() pass over
// 100,000 stored certificate records with 100 due (keys read, wall time, the 100 renewed through the
// in-process stand-in CA), against private redis-server and PostgreSQL instances on 127.0.0.1.
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
import { CertificateManager } from "../src/manager/certificate-manager.ts";
import type { CertificateRecord } from "../src/manager/records.ts";
import { StorageHttp01Solver } from "../src/manager/storage-http01-solver.ts";
import { keys } from "../src/manager/storage-keys.ts";
import { probed } from "../test/support/probed-storage.ts";
import { placeholderRecord } from "../test/support/stored-records.ts";
import { StandInCa } from "../test/support/stand-in-ca.ts";
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
  /** One renewDue() pass over {@link dueRecords} stored certificates, {@link renewDue.due} of them due. */
  renewDue: { due: number; renewed: number; keysRead: number; certificatesRead: number; listings: number; wallMs: number; loadMs: number };
}

const DAY = 86_400_000;

/** A stored certificate record as the manager writes it; `due` ones fell due a second ago. */
export function benchRecord(i: number, now: number): CertificateRecord {
  const due = i < DUE;
  return placeholderRecord(`bench-${i}`, now, due ? now - 1_000 - i : now + 3_600_000 + i * 50_000, now + (due ? 5 : 60) * DAY, 20);
}

/** One renewDue() pass on a store already holding the records, their due entries and the ready marker. */
async function renewDuePass(storage: Storage & DueIndex, now: number, loadMs: number): Promise<FleetStorageFigures["renewDue"]> {
  const probe = probed(storage);
  const tokens = new StorageHttp01Solver(storage);
  const ca = new StandInCa({ now: () => now, lifetimeMs: 30 * DAY, token: (t) => tokens.response(t) });
  const manager = new CertificateManager({ storage: probe.storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, termsOfServiceAgreed: true, now: () => now, retry: { maxAttempts: 1 } });
  const started = performance.now();
  const result = await manager.renewDue();
  const wallMs = performance.now() - started;
  if (result.failed.length > 0) throw new Error(`bench renewDue failed: ${JSON.stringify(result.failed.slice(0, 3))}`);
  return {
    due: DUE,
    renewed: result.renewed.length,
    keysRead: probe.reads.keys.length,
    certificatesRead: probe.reads.keys.filter((k) => k.startsWith(keys.certificatePrefix)).length,
    listings: probe.reads.lists,
    wallMs,
    loadMs,
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(backend: string, storage: Storage & DueIndex, now: number, loadMs: number): Promise<FleetStorageFigures> {
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
  const renewDue = await renewDuePass(storage, now, loadMs);
  return { backend, lockMedianMs: quantile(times, 0.5), lockP99Ms: quantile(times, 0.99), dueRecords: RECORDS, dueRead: read, duePassMs: quantile(passes, 0.5), renewDue };
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
  for (let i = 0; i < RECORDS; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, RECORDS - i) }, async (_, j) => {
        const r = benchRecord(i + j, now);
        await redisStorage.put(keys.certificate(r.id), JSON.stringify(r));
        await redisStorage.setDue(r.id, r.renewal.renewAt);
      }),
    );
  }
  await redisStorage.put(keys.dueIndexReady, "{}");
  out.push(await measure("redis", redisStorage, now, performance.now() - started));
  await client.quit();
  await redis.stop();

  const postgres = await startPostgres();
  const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  const storage = new PostgresStorage({ client: fromPg(pool), table: "bench" });
  await storage.migrate();
  started = performance.now();
  // Multi-row inserts of 2,000 records each: the JSON made here, the versions from the table's sequence.
  for (let i = 0; i < RECORDS; i += 2_000) {
    const batch = Array.from({ length: Math.min(2_000, RECORDS - i) }, (_, j) => benchRecord(i + j, now));
    await pool.query(
      `INSERT INTO bench (kind, key, value, version) SELECT 'v', k, convert_to(v, 'UTF8'), nextval('bench_version') FROM unnest($1::text[], $2::text[]) AS t(k, v)`,
      [batch.map((r) => keys.certificate(r.id)), batch.map((r) => JSON.stringify(r))],
    );
    await pool.query(`INSERT INTO bench (kind, key, due_at) SELECT 'd', k, d FROM unnest($1::text[], $2::bigint[]) AS t(k, d)`, [
      batch.map((r) => r.id),
      batch.map((r) => String(r.renewal.renewAt)),
    ]);
  }
  await storage.put(keys.dueIndexReady, "{}");
  await pool.query("ANALYZE bench");
  out.push(await measure("postgres", storage, now, performance.now() - started));
  await pool.end();
  await postgres.stop();
  return out;
}

/** One backend's figures as a report line. */
export function fleetStorageLine(f: FleetStorageFigures): string {
  const r = f.renewDue;
  return (
    `fleet storage ${f.backend}: lock acquire+release median ${f.lockMedianMs.toFixed(2)} ms, p99 ${f.lockP99Ms.toFixed(2)} ms; ` +
    `due-index read over ${f.dueRecords.toLocaleString("en")} records: ${f.dueRead} read in ${f.duePassMs.toFixed(2)} ms; ` +
    `renewDue() pass over ${f.dueRecords.toLocaleString("en")} records with ${r.due} due: ${r.renewed} renewed, ${r.keysRead} keys read ` +
    `(${r.certificatesRead} certificate records, ${r.listings} listings), ${r.wallMs.toFixed(0)} ms (stand-in CA in process; bulk load ${(r.loadMs / 1000).toFixed(1)} s)`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of await fleetStorageBench()) {
    console.log(fleetStorageLine(f));
  }
}
