// One fleet instance for the multi-process tests, run by Node (`node --import tsx`), by the bun binary
// or by the deno binary. argv[2] is JSON: { backend: "redis" | "postgres" | "denokv", url?, kvPath?,
// namespace, directoryUrl, lockTtlMs }. Prints {"ready":true} once its storage is connected, then reads
// one JSON command a line from stdin and prints its outcome with the command's `round`:
//   { round, names }                 manage(names)   -> { round, ok, serial, id }
//   { round, op: "renewDue" }        renewDue()      -> { round, ok, renewed, failed }
//   { round, op: "revoke", names }   revoke(names)   -> { round, ok }
//   { round, op: "lapse" }           lapses the leases it holds (as a dead holder's run out) and stops
//                                    itself (SIGSTOP) -> { round, lapsed: true }: kill it next
// or { round, ok: false, code, message }. `stopAtSend: true` on a command arms a pause: at the next
// lease check before a state-changing CA request (before the check, so the check sees the pause), the
// process stops itself with SIGSTOP, as a VM stall or a long GC would stop it; SIGCONT resumes it.
// Every POST the CA answered is printed as { request: path }. Exits when stdin closes.
import process from "node:process";
import { createInterface } from "node:readline";
import { CertificateManager } from "../../src/manager/index.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { RedisStorage } from "../../src/storage/redis/redis-storage.ts";
import { fromBunRedis, fromNodeRedis, type BunRedisLike } from "../../src/storage/redis/redis-client.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../../src/storage/postgres/postgres-client.ts";
import { DenoKvStorage } from "../../src/storage/deno-kv/deno-kv-storage.ts";
import { lapsableLeases } from "../support/crashable.ts";

interface ChildConfig {
  backend: "redis" | "postgres" | "denokv";
  url?: string;
  kvPath?: string;
  namespace: string;
  directoryUrl: string;
  lockTtlMs: number;
}

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const isBun = "Bun" in globalThis;
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ pid: process.pid, ...line })}\n`);

async function openStorage(): Promise<Storage> {
  if (config.backend === "redis" && isBun) {
    // Bun's own client, as a Bun deployment would use (test/fleet/bun-redis.test.ts checks it alone).
    const { RedisClient } = (await import("bun" as string)) as { RedisClient: new (url: string) => BunRedisLike & { connect(): Promise<void> } };
    const client = new RedisClient(config.url!);
    await client.connect();
    return new RedisStorage({ client: fromBunRedis(client), prefix: config.namespace });
  }
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
  if ((init?.method ?? "GET").toUpperCase() === "POST") {
    const location = response.headers.get("location");
    say({ request: new URL(input instanceof Request ? input.url : String(input)).pathname, status: response.status, ...(location ? { location: new URL(location).pathname } : {}) });
  }
  return response;
};

let stopAtSend = false;
/**
 * The lease clock, which the lock's send guard reads right before a state-changing CA request: when a
 * pause is armed and this read is that guard's, stop here, so the guard measures the pause.
 */
const leaseClock = () => {
  if (stopAtSend && new Error().stack?.includes("checkSendGuard")) {
    stopAtSend = false;
    say({ stopping: true });
    process.kill(process.pid, "SIGSTOP");
  }
  return performance.now();
};

const { storage, lapseLeases } = lapsableLeases(await openStorage());
const manager = new CertificateManager({
  termsOfServiceAgreed: true,
  storage,
  fetch: reportingFetch,
  directoryUrl: config.directoryUrl,
  email: "fleet@example.test",
  retry: { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 3 },
  lockTtlMs: config.lockTtlMs,
  lockWaitMs: 120_000,
  leaseClock,
  onEvent: (event) => say({ event: event.type, id: event.id }),
  // What went wrong, for a failing test's output (never key material: the manager logs none).
  logger: { log: (level, event, fields) => (level === "warn" || level === "error" || event.includes("resumed") ? say({ log: event, level, ...fields }) : undefined) },
  // Every lookup reads storage: what this process serves is checked against what the store holds.
  cacheTtlMs: 0,
});
say({ ready: true });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line) as { round: number; op?: "manage" | "renewDue" | "revoke" | "lapse"; names?: string[]; stopAtSend?: boolean };
  const { round, names = [] } = command;
  if (command.stopAtSend) stopAtSend = true;
  if (command.op === "lapse") {
    // About to be killed: its leases run out now (as they would a TTL after its death), and it stands
    // still until the kill, so nothing it does with a lapsed lease reaches anyone.
    void lapseLeases().then(() => {
      say({ round, lapsed: true });
      process.kill(process.pid, "SIGSTOP");
    });
    return;
  }
  const run =
    command.op === "renewDue"
      ? manager.renewDue().then((r) => ({ renewed: r.renewed, failed: r.failed }))
      : command.op === "revoke"
        ? manager.revoke(names).then(() => ({}))
        : manager.manage(names).then((cert) => ({ serial: cert.serialNumber, id: cert.id }));
  run.then(
    (result) => say({ round, ok: true, ...result }),
    (error: unknown) => say({ round, ok: false, code: (error as { code?: string }).code, message: String((error as Error)?.message ?? error) }),
  );
});
lines.on("close", () => process.exit(0));
