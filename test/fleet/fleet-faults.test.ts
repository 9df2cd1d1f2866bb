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
import { lapsableLeases } from "../support/crashable.ts";
import { useFaultProxyBed } from "../support/fault-proxy-bed.ts";
import { redisServerBinary, startRedis, type RedisServer } from "../support/redis-server.ts";
import { postgresBinDir, startPostgres, type PostgresServer } from "../support/postgres-server.ts";

const ca = useFaultProxyBed();

const posts = (path: string) => ca.proxy.count({ method: "POST", path });

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Waits until `storage` answers again (its client reconnected after the fault), bounded at 60 s. */
async function untilAnswers(storage: Storage): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await storage.get("probe");
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the storage did not answer again: ${String(error)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * `storage` telling `failed` whenever one of its calls fails: the manager met the fault. (Lease renewals
 * are not seen: only calls on the storage itself.)
 */
function noticingFailures(storage: Storage, failed: () => void): Storage {
  return new Proxy(storage, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          failed();
          throw error;
        });
      };
    },
  });
}

/**
 * A storage server fault: `down()` once it has struck (the CA's held answer goes out then, so the
 * issuance goes on into it); `met` resolves once the manager's own storage call failed on it, for a
 * fault that lasts until then rather than for a time a loaded machine may overrun.
 */
type ServerFault = (down: () => void, met: Promise<void>) => Promise<void>;

/** `met`, or `ms` later: a bound on waiting for the manager to meet a fault, not a speed requirement. */
const metOrAfter = (met: Promise<void>, ms: number): Promise<void> => Promise.race([met, new Promise<void>((r) => setTimeout(r, ms))]);

/**
 * Runs manage(names) while `fault` strikes once the proxy sees the first POST to `at`: the CA's answer to
 * it is held until the fault is down, so the fault lands while the request is in flight whatever the
 * machine's speed. Retries after a failure (at most 4 attempts) once the fault is over and the storage
 * answers again; returns the typed errors it met. The lease is the default one; before a retry, a lease
 * the failed attempt could not release (its storage was down) lapses explicitly, as it would once its
 * TTL passed, instead of a short TTL that a loaded machine overruns.
 */
async function issueThroughFault(storage: Storage, names: string[], at: string, fault: ServerFault): Promise<{ errors: unknown[]; finalizes: number }> {
  let markDown!: () => void;
  const down = new Promise<void>((r) => (markDown = r));
  let markMet!: () => void;
  const met = new Promise<void>((r) => (markMet = r));
  ca.tokens = storage;
  const instance = lapsableLeases(noticingFailures(storage, markMet));
  const manager = new CertificateManager({
    termsOfServiceAgreed: true,
    storage: instance.storage,
    directoryUrl: ca.proxy.directoryUrl,
    fetch: ca.proxy.fetch,
    email: "faults@example.test",
    retry: { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 3 },
    lockWaitMs: 30_000,
  });
  const finalizesBefore = posts("/finalize-order/");
  const before = posts(at);
  const errors: unknown[] = [];
  const struck = until(`a POST to ${at}`, () => posts(at) > before).then(() => fault(markDown, met));
  ca.proxy.addRule({ method: "POST", path: at, nth: 1, fault: { kind: "hold", until: Promise.race([down, struck]) } });
  let cert: Awaited<ReturnType<CertificateManager["manage"]>> | undefined;
  for (let attempt = 0; attempt < 4 && !cert; attempt++) {
    try {
      cert = await manager.manage(names);
    } catch (error) {
      errors.push(error);
      await struck; // the server is back before the next attempt
      await untilAnswers(storage);
      await instance.lapseLeases();
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
      const { errors, finalizes } = await issueThroughFault(storage, names, at, async (down, met) => {
        // Down until the issuance has met the outage (one of its storage calls failed), then back.
        await server.kill();
        down();
        await metOrAfter(met, 60_000);
        await server.start();
      });
      // The outage reached the issuance: at least one attempt failed on it.
      expect(errors.length).toBeGreaterThan(0);
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
      let waves = 0;
      let metIt = false;
      const { errors, finalizes } = await issueThroughFault(storage, names, at, async (down, met) => {
        void met.then(() => (metIt = true));
        // Waves 100 ms apart until one of the issuance's storage calls failed (in-flight statements
        // fail, idle pooled connections die), at most 30: the held CA answer goes out after the first.
        for (; waves < 30 && !metIt; waves++) {
          const { rows } = await admin.query("SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) t");
          terminated += Number(rows[0].n);
          if (waves === 0) down();
          await metOrAfter(met, 100);
        }
      });
      expect(terminated).toBeGreaterThan(0);
      expect(finalizes).toBe(1);
      expect((await storage.list("certificates/")).keys).toHaveLength(1);
      console.log(`postgres terminate at ${at}: ${terminated} connections terminated in ${waves} wave(s)${metIt ? ", one failed a storage call of the issuance" : ""}, ${errors.length} failed attempt(s) (${errors.map((e) => (e as { code?: string }).code).join(", ") || "none"}), 1 finalization`);
    }, 120_000);
  }
});
