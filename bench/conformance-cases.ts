// Storage conformance per backend: how many cases of the exported suite (`edgecert/storage/conformance`)
// each backend passes and how long the suite takes there, run in this process on MemoryStorage,
// FileStorage (a temporary directory), RedisStorage and PostgresStorage (private servers on 127.0.0.1,
// when installed). KV, R2 and the Durable Object run the same suite inside workerd, and Deno KV in the
// deno binary, in `npm test` (test/storage/workers/, test/fleet/deno-kv.test.ts): listed with the count.
// Run alone with `npx tsx bench/conformance-cases.ts`, or from bench/run.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import pg from "pg";
import { storageConformanceCases, type MakeStorage } from "../src/storage/conformance.ts";
import { MemoryStorage } from "../src/storage/memory-storage.ts";
import { FileStorage } from "../src/storage/file.ts";
import { RedisStorage } from "../src/storage/redis/redis-storage.ts";
import { fromNodeRedis } from "../src/storage/redis/redis-client.ts";
import { PostgresStorage } from "../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../src/storage/postgres/postgres-client.ts";
import { redisServerBinary, startRedis } from "../test/support/redis-server.ts";
import { postgresBinDir, startPostgres } from "../test/support/postgres-server.ts";

/** One backend's result. `passed`/`wallMs` are absent where the suite runs only in `npm test`. */
export interface ConformanceFigures {
  backend: string;
  cases: number;
  passed?: number;
  failed?: string[];
  wallMs?: number;
  where: string;
}

async function runSuite(backend: string, make: MakeStorage): Promise<ConformanceFigures> {
  const cases = storageConformanceCases(make, { log: () => undefined });
  const started = performance.now();
  const failed: string[] = [];
  for (const c of cases) await c.run().catch((error: unknown) => failed.push(`${c.group}: ${c.name}: ${String(error)}`));
  return { backend, cases: cases.length, passed: cases.length - failed.length, failed, wallMs: Math.round(performance.now() - started), where: "bench, this process" };
}

/** Runs the suite where this process can, and lists where else it runs. */
export async function conformanceBench(): Promise<ConformanceFigures[]> {
  const out: ConformanceFigures[] = [];
  out.push(await runSuite("MemoryStorage", () => new MemoryStorage()));
  const dir = await mkdtemp(join(tmpdir(), "edgecert-bench-conformance-"));
  try {
    let n = 0;
    out.push(await runSuite("FileStorage", () => new FileStorage({ dir: join(dir, `s${n++}`) })));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (redisServerBinary()) {
    const server = await startRedis();
    const client = createClient({ url: server.url });
    client.on("error", () => undefined);
    await client.connect();
    try {
      out.push(await runSuite("RedisStorage (node-redis)", () => new RedisStorage({ client: fromNodeRedis(client), prefix: "bench-conformance" })));
    } finally {
      await client.quit().catch(() => undefined);
      await server.stop();
    }
  }
  if (postgresBinDir()) {
    const server = await startPostgres();
    const pool = new pg.Pool({ connectionString: server.url, max: 8 });
    pool.on("error", () => undefined);
    try {
      const storage = new PostgresStorage({ client: fromPg(pool), table: "bench_conformance" });
      await storage.migrate();
      out.push(await runSuite("PostgresStorage (pg)", () => storage));
    } finally {
      await pool.end().catch(() => undefined);
      await server.stop();
    }
  }
  const count = storageConformanceCases(() => new MemoryStorage()).length;
  for (const backend of ["KvStorage", "R2Storage", "DurableObjectStorage"]) out.push({ backend, cases: count, where: "inside workerd, test/storage/workers/" });
  out.push({ backend: "DenoKvStorage", cases: count, where: "in the deno binary, test/fleet/deno-kv.test.ts" });
  out.push({ backend: "RedisStorage (Bun RedisClient)", cases: count, where: "in the bun binary, test/fleet/bun-redis.test.ts" });
  return out;
}

/** One report line. */
export function conformanceLine(f: ConformanceFigures): string {
  const result = f.passed === undefined ? "runs in npm test" : `${f.passed}/${f.cases} passed in ${f.wallMs} ms${f.failed && f.failed.length > 0 ? ` — FAILED: ${f.failed.join("; ")}` : ""}`;
  return `${f.backend.padEnd(31)} | ${String(f.cases).padEnd(5)} | ${result} (${f.where})`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = await conformanceBench();
  for (const f of figures) console.log(conformanceLine(f));
}
