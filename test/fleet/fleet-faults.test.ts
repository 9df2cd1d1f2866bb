/**
 * Storage server faults during an issuance against a real Pebble: a Redis killed and restarted, and
 * PostgreSQL connections terminated (pg_terminate_backend), at the challenge and at finalization. What
 * must hold: no second finalization (no double issuance), every failure a typed EdgecertError, and
 * manage() succeeding once the server is back, with a certificate that matches its key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "redis";
import pg from "pg";
import { CertificateManager } from "../../src/manager/index.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { RedisStorage } from "../../src/storage/redis/redis-storage.ts";
import { fromNodeRedis } from "../../src/storage/redis/redis-client.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../../src/storage/postgres/postgres-client.ts";
import { certificateMatchesKey, importPrivateKeyPem, isEdgecertError } from "../../src/index.ts";
import { useFleetCa } from "../support/fleet-ca.ts";
import { redisServerBinary, startRedis, type RedisServer } from "../support/redis-server.ts";
import { postgresBinDir, startPostgres, type PostgresServer } from "../support/postgres-server.ts";

const ca = useFleetCa();

const posts = (path: string) => ca.proxy.count({ method: "POST", path });

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Runs manage(names) while `fault` strikes once the proxy sees the first POST to `at`; retries after a
 * failure (at most 4 attempts) and returns the typed errors it met.
 */
async function issueThroughFault(storage: Storage, names: string[], at: string, fault: () => Promise<void>): Promise<{ errors: unknown[]; finalizes: number }> {
  ca.tokens = storage;
  const manager = new CertificateManager({
    termsOfServiceAgreed: true,
    storage,
    directoryUrl: ca.proxy.directoryUrl,
    fetch: ca.proxy.fetch,
    email: "faults@example.test",
    retry: { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 3 },
    lockTtlMs: 3_000,
    lockWaitMs: 30_000,
  });
  const finalizesBefore = posts("/finalize-order/");
  const before = posts(at);
  // Hold the request at the fault point a little, so the fault lands while it is in flight.
  ca.proxy.addRule({ method: "POST", path: at, nth: 1, fault: { kind: "delay", ms: 700 } });
  const errors: unknown[] = [];
  const struck = until(`a POST to ${at}`, () => posts(at) > before).then(fault);
  let cert: Awaited<ReturnType<CertificateManager["manage"]>> | undefined;
  for (let attempt = 0; attempt < 4 && !cert; attempt++) {
    try {
      cert = await manager.manage(names);
    } catch (error) {
      errors.push(error);
      await struck; // the server is back before the next attempt
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  await struck;
  ca.proxy.clearRules();
  expect(cert, `manage() never succeeded: ${errors.map(String).join("; ")}`).toBeDefined();
  expect(await certificateMatchesKey(cert!.chainPem, await importPrivateKeyPem(cert!.keyPem))).toBe(true);
  for (const error of errors) expect(isEdgecertError(error), `untyped error: ${String(error)}`).toBe(true);
  ca.tokens = undefined;
  return { errors, finalizes: posts("/finalize-order/") - finalizesBefore };
}

describe.skipIf(!redisServerBinary() && !process.env.CI)("Redis restarted during an issuance", () => {
  let server: RedisServer;
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    server = await startRedis();
    // No offline queue: while Redis is down, commands fail at once (typed errors) instead of waiting.
    client = createClient({ url: server.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } });
    client.on("error", () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    await client?.quit().catch(() => undefined);
    await server?.stop();
  });

  for (const at of ["/chalZ/", "/finalize-order/"]) {
    it(`killed and restarted at ${at}: one finalization, typed errors, success after recovery`, async () => {
      const storage = new RedisStorage({ client: fromNodeRedis(client), prefix: `faults${at.replace(/\W/g, "")}` });
      const names = [`redis${at.replace(/\W/g, "")}.faults.test`];
      const { errors, finalizes } = await issueThroughFault(storage, names, at, async () => {
        await server.restart({ downMs: 1_000 });
      });
      expect(finalizes).toBe(1);
      expect((await storage.list("certificates/")).keys).toHaveLength(1);
      console.log(`redis restart at ${at}: ${errors.length} failed attempt(s) (${errors.map((e) => (e as { code?: string }).code).join(", ") || "none"}), 1 finalization`);
    }, 120_000);
  }
});

describe.skipIf(!postgresBinDir() && !process.env.CI)("PostgreSQL connections terminated during an issuance", () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  let admin: pg.Client;
  beforeAll(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 4 });
    pool.on("error", () => undefined);
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
  });
  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await server?.stop();
  });

  // At /chalZ/ the terminated connections may also fail the http-01 token reads: the order goes invalid
  // (a challenge_failed attempt) and the next manage() must order anew, not report the recorded order as
  // unresumable (the mechanism alone: test/manager/unresumable-order.test.ts).
  for (const at of ["/chalZ/", "/finalize-order/"]) {
    it(`pg_terminate_backend of every storage connection at ${at}: one finalization, typed errors, success after`, async () => {
      const table = `faults_${at.replace(/\W/g, "")}`.toLowerCase();
      const storage = new PostgresStorage({ client: fromPg(pool), table });
      await storage.migrate();
      const names = [`pg${at.replace(/\W/g, "")}.faults.test`];
      let terminated = 0;
      const { errors, finalizes } = await issueThroughFault(storage, names, at, async () => {
        // Three waves over a second: in-flight statements fail, idle pooled connections die.
        for (let wave = 0; wave < 3; wave++) {
          const { rows } = await admin.query("SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) t");
          terminated += Number(rows[0].n);
          await new Promise((r) => setTimeout(r, 400));
        }
      });
      expect(terminated).toBeGreaterThan(0);
      expect(finalizes).toBe(1);
      expect((await storage.list("certificates/")).keys).toHaveLength(1);
      console.log(`postgres terminate at ${at}: ${terminated} connections terminated, ${errors.length} failed attempt(s) (${errors.map((e) => (e as { code?: string }).code).join(", ") || "none"}), 1 finalization`);
    }, 120_000);
  }
});
