// One fleet instance for the multi-process tests, run by Node (`node --import tsx`) or by the deno
// binary. argv[2] is JSON: { backend: "redis" | "postgres" | "denokv", url?, kvPath?, namespace,
// directoryUrl, lockTtlMs }. Prints {"ready":true} once its storage is connected, then reads one JSON
// command a line from stdin ({ round, names }), runs manage(names) and prints { round, ok, serial, id }
// or { round, ok: false, code, message }; every POST the CA answered as { request: path }. Exits when
// stdin closes.
import process from "node:process";
import { createInterface } from "node:readline";
import { CertificateManager } from "../../src/manager/index.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { RedisStorage } from "../../src/storage/redis/redis-storage.ts";
import { fromNodeRedis } from "../../src/storage/redis/redis-client.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../../src/storage/postgres/postgres-client.ts";
import { DenoKvStorage } from "../../src/storage/deno-kv/deno-kv-storage.ts";

interface ChildConfig {
  backend: "redis" | "postgres" | "denokv";
  url?: string;
  kvPath?: string;
  namespace: string;
  directoryUrl: string;
  lockTtlMs: number;
}

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ pid: process.pid, ...line })}\n`);

async function openStorage(): Promise<Storage> {
  if (config.backend === "redis") {
    const { createClient } = await import("redis");
    const client = createClient({ url: config.url! });
    client.on("error", () => undefined); // reconnects by itself; failed commands surface as storage errors
    await client.connect();
    return new RedisStorage({ client: fromNodeRedis(client), prefix: config.namespace });
  }
  if (config.backend === "postgres") {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: config.url!, max: 4 });
    pool.on("error", () => undefined);
    return new PostgresStorage({ client: fromPg(pool), table: config.namespace });
  }
  const deno = (globalThis as unknown as { Deno: { openKv(path: string): Promise<never> } }).Deno;
  return new DenoKvStorage({ kv: await deno.openKv(config.kvPath!), prefix: config.namespace });
}

/** Reports every POST the CA answered (path only), so a test can count orders across processes. */
const reportingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  if ((init?.method ?? "GET").toUpperCase() === "POST") say({ request: new URL(input instanceof Request ? input.url : String(input)).pathname });
  return response;
};

const storage = await openStorage();
const manager = new CertificateManager({
  termsOfServiceAgreed: true,
  storage,
  fetch: reportingFetch,
  directoryUrl: config.directoryUrl,
  email: "fleet@example.test",
  retry: { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 3 },
  lockTtlMs: config.lockTtlMs,
  lockWaitMs: 120_000,
});
say({ ready: true });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const { round, names } = JSON.parse(line) as { round: number; names: string[] };
  manager.manage(names).then(
    (cert) => say({ round, ok: true, serial: cert.serialNumber, id: cert.id }),
    (error: unknown) => say({ round, ok: false, code: (error as { code?: string }).code, message: String((error as Error)?.message ?? error) }),
  );
});
lines.on("close", () => process.exit(0));
