import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import postgres from "postgres";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { fromPg, fromPostgresJs } from "../../src/storage/postgres/postgres-client.ts";
import { runStorageConformance } from "../storage/conformance.ts";
import { runRenewDueIndexTests } from "./renew-due-index.ts";
import { runFleetQueueTests } from "../budget/fleet-queue-backends.ts";
import { expectNoReuseAfterDataLoss } from "./data-loss.ts";
import { postgresBinDir, startPostgres, type PostgresServer } from "../support/postgres-server.ts";

const bin = postgresBinDir();
if (!bin) console.warn(process.env.CI ? "PostgreSQL missing in CI: the PostgreSQL tests will fail" : "SKIPPED: PostgreSQL is not installed — PostgresStorage tests did not run (apt-get install postgresql)");

describe.skipIf(!bin && !process.env.CI)("PostgresStorage against a private PostgreSQL", () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  let sql: postgres.Sql;
  beforeAll(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 8 });
    pool.on("error", () => undefined);
    sql = postgres(server.url, { max: 8, onnotice: () => undefined });
    await Promise.all([
      new PostgresStorage({ client: fromPg(pool), table: "t_pg" }).migrate(),
      new PostgresStorage({ client: fromPg(pool), table: "t_pg" }).migrate(),
      new PostgresStorage({ client: fromPostgresJs(sql), table: "t_js" }).migrate(),
    ]);
  });
  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    await sql?.end({ timeout: 1 }).catch(() => undefined);
    await server?.stop();
  });

  const viaPg = () => new PostgresStorage({ client: fromPg(pool), table: "t_pg" });
  const viaPostgresJs = () => new PostgresStorage({ client: fromPostgresJs(sql), table: "t_js" });
  runStorageConformance("PostgresStorage (pg)", viaPg);
  runStorageConformance("PostgresStorage (postgres.js)", viaPostgresJs);
  runFleetQueueTests("PostgresStorage", async () => {
    const table = `queue_${crypto.randomUUID().slice(0, 8).replace(/-/g, "")}`;
    await new PostgresStorage({ client: fromPg(pool), table }).migrate();
    return { clients: (n) => Array.from({ length: n }, (_, i) => new PostgresStorage({ client: i % 2 ? fromPostgresJs(sql) : fromPg(pool), table })) };
  });
  runRenewDueIndexTests("PostgresStorage", async () => {
    const storage = new PostgresStorage({ client: fromPg(pool), table: `renew_${crypto.randomUUID().slice(0, 8).replace(/-/g, "")}` });
    await storage.migrate();
    return { storage };
  });

  it("both clients share one table; migrate() is idempotent", async () => {
    const a = new PostgresStorage({ client: fromPg(pool), table: "shared" });
    const b = new PostgresStorage({ client: fromPostgresJs(sql), table: "shared" });
    await a.migrate();
    await b.migrate();
    await a.put("x/bin", Uint8Array.of(0, 255, 10, 13, 92, 39));
    expect(await b.get("x/bin")).toEqual(Uint8Array.of(0, 255, 10, 13, 92, 39));
    const lease = await b.lock("x/lock", { ttlMs: 5_000 });
    await a.put("x/bin", "fenced", { fence: lease });
    await lease.release();
    await expect(a.put("x/bin", "late", { fence: lease })).rejects.toMatchObject({ code: "lease_lost" });
  });

  it("never reuses a version or a fencing token after an older backup is restored (rows and sequence go back)", async () => {
    const table = `restore_${crypto.randomUUID().slice(0, 8)}`;
    const storage = () => new PostgresStorage({ client: fromPg(pool), table });
    await storage().migrate();
    let sequence: { last_value: string; is_called: boolean } | undefined;
    await expectNoReuseAfterDataLoss(
      storage,
      {
        // What pg_dump + restore (or point-in-time recovery) does to this table: rows and sequence as they were.
        takeBackup: async () => {
          await pool.query(`CREATE TABLE ${table}_backup AS SELECT * FROM ${table}`);
          sequence = (await pool.query(`SELECT last_value::text, is_called FROM ${table}_version`)).rows[0];
        },
        restoreBackup: async () => {
          await pool.query(`TRUNCATE ${table}`);
          await pool.query(`INSERT INTO ${table} SELECT * FROM ${table}_backup`);
          await pool.query(`SELECT setval('${table}_version', $1::bigint, $2)`, [sequence!.last_value, sequence!.is_called]);
        },
      },
      "restore",
    );
  });

  it("rows written before versions had a nonce keep their version; the next write gives them one", async () => {
    const s = viaPg();
    await s.put("legacy/k", "old");
    await pool.query(`UPDATE t_pg SET nonce = NULL WHERE kind = 'v' AND key = 'legacy/k'`);
    const old = (await s.getEntry("legacy/k"))!;
    expect(old.version).toMatch(/^[0-9]+$/);
    await s.put("legacy/k", "new", { ifVersion: old.version });
    const now = (await s.getEntry("legacy/k"))!;
    expect(now.version).toMatch(/^[0-9]+\.[0-9a-f]{24}$/);
    await expect(s.put("legacy/k", "stale", { ifVersion: old.version })).rejects.toMatchObject({ code: "conflict" });
  });

  it("before migrate(): a typed storage error that says to run it", async () => {
    const s = new PostgresStorage({ client: fromPg(pool), table: "never_migrated" });
    await expect(s.get("a")).rejects.toMatchObject({ code: "storage", message: expect.stringContaining("migrate()") });
  });

  it("a lease survives its connection: pg_terminate_backend on every other connection keeps the row and its token", async () => {
    const s = viaPg();
    const lease = await s.lock("term/lock", { ttlMs: 30_000 });
    await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
    // The pool replaces dead connections; the first statement on a killed one may fail with a typed error.
    let wrote = false;
    for (let i = 0; i < 5 && !wrote; i++) {
      try {
        await s.put("term/k", "after terminate", { fence: lease });
        wrote = true;
      } catch (error) {
        expect((error as { code?: string }).code).toBe("storage");
      }
    }
    expect(wrote).toBe(true);
    await expect(s.lock("term/lock", { waitMs: 0 })).rejects.toMatchObject({ code: "storage" });
    await lease.release();
  });
});
