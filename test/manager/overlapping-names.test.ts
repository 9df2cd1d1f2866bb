import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { Redis as IORedis } from "ioredis";
import type { CertificateManager, CertificateManagerOptions, ManagedCertificate } from "../../src/manager/index.ts";
import { FileStorage } from "../../src/storage/file-storage.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { fromPg } from "../../src/storage/postgres/postgres-client.ts";
import { RedisStorage } from "../../src/storage/redis/redis-storage.ts";
import { fromIoredis } from "../../src/storage/redis/redis-client.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { crashable } from "../support/crashable.ts";
import { denoBinary, startDenoKv, type DenoKvProcess } from "../support/deno-kv-process.ts";
import { bedManager, useManagerBed } from "../support/manager-bed.ts";
import { expectedServedId, storedCertificateRecords } from "../support/served-choice.ts";
import { postgresBinDir, startPostgres, type PostgresServer } from "../support/postgres-server.ts";
import { redisServerBinary, startRedis, type RedisServer } from "../support/redis-server.ts";

// Issue 23, defect 1: a name covered by several certificates (overlapping name sets) is served by
// one deterministic pick from all of them (src/manager/pick-served-certificate.ts), in every process
// and on every backend, whatever was issued, renewed, revoked or removed last. "A fresh process" is a
// new CertificateManager on the same store. Pebble is the CA; Redis and PostgreSQL are real servers.

const bed = useManagerBed();
let unique = 0;

// The default lease (a crashed process's leases lapse when it dies, test/support/crashable.ts).
const manager = (storage: Storage, extra: Partial<CertificateManagerOptions> = {}): CertificateManager => bedManager(bed, storage, extra);

/**
 * Renews `names` so that its certificate ends strictly later than `than`: Pebble's times have whole
 * seconds (notAfter follows notBefore, the issuance second), so the renewal waits for the wall clock
 * to leave the second `than` was issued in (a wait on a condition, at most ~1 s, not a timing assertion).
 */
async function renewPast(m: CertificateManager, names: string[], than: ManagedCertificate): Promise<ManagedCertificate> {
  for (let i = 0; i < 100 && Date.now() < than.notBefore.getTime() + 1_000; i++) await new Promise((r) => setTimeout(r, 25));
  for (let i = 0; i < 5; i++) {
    const renewed = await m.renew(names);
    if (renewed.notAfter.getTime() > than.notAfter.getTime()) return renewed;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`renewals of ${names.join(",")} all ended no later than ${than.notAfter.toISOString()}`);
}

/** What a fresh process serves for each of `names` (ids; undefined when nothing). */
async function servedIds(storage: Storage, names: string[]): Promise<Array<string | undefined>> {
  const fresh = manager(storage);
  return Promise.all(names.map(async (n) => (await fresh.getCertificate(n))?.id));
}

interface Backend {
  name: string;
  /** A new empty store (its own namespace), or undefined when the backend is not installed here. */
  store(): Promise<Storage>;
}

const tmpDirs: string[] = [];
let redis: RedisServer | undefined;
let ioredis: IORedis | undefined;
let postgresServer: PostgresServer | undefined;
let pool: pg.Pool | undefined;
let denoKv: DenoKvProcess | undefined;
const haveDeno = denoBinary() !== undefined;
const haveRedis = redisServerBinary() !== undefined;
const havePostgres = postgresBinDir() !== undefined;

beforeAll(async () => {
  if (haveRedis) {
    redis = await startRedis();
    ioredis = new IORedis(redis.url);
    ioredis.on("error", () => undefined);
  }
  if (haveDeno) {
    const dir = await mkdtemp(join(tmpdir(), "edgecert-overlap-kv-"));
    tmpDirs.push(dir);
    denoKv = await startDenoKv(join(dir, "kv.sqlite3"));
  }
  if (havePostgres) {
    postgresServer = await startPostgres();
    pool = new pg.Pool({ connectionString: postgresServer.url, max: 4 });
    pool.on("error", () => undefined);
  }
}, 120_000);

afterAll(async () => {
  await denoKv?.stop();
  ioredis?.disconnect();
  await redis?.stop();
  await pool?.end().catch(() => undefined);
  await postgresServer?.stop();
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

const backends: Backend[] = [
  { name: "MemoryStorage", store: async () => new MemoryStorage() },
  {
    name: "FileStorage",
    store: async () => {
      const dir = await mkdtemp(join(tmpdir(), "edgecert-overlap-"));
      tmpDirs.push(dir);
      return new FileStorage({ dir });
    },
  },
  ...(haveRedis || process.env.CI
    ? [{ name: "RedisStorage", store: async () => new RedisStorage({ client: fromIoredis(ioredis!), prefix: `ov-${++unique}` }) }]
    : []),
  ...(havePostgres || process.env.CI
    ? [
        {
          name: "PostgresStorage",
          store: async () => {
            const s = new PostgresStorage({ client: fromPg(pool!), table: `ov_${++unique}` });
            await s.migrate();
            return s;
          },
        },
      ]
    : []),
  // One Deno KV store (the deno binary on a SQLite file) for every case: their names never meet.
  ...(haveDeno || process.env.CI ? [{ name: "DenoKvStorage", store: async () => denoKv!.storage }] : []),
];
if (!haveRedis || !havePostgres || !haveDeno) console.warn(`SKIPPED on this machine: ${[haveRedis ? "" : "Redis", havePostgres ? "" : "PostgreSQL", haveDeno ? "" : "Deno KV"].filter(Boolean).join(", ")} (not installed)`);

const names = (tag: string) => ["a", "b", "c"].map((l) => `${l}.${tag}${++unique}.overlap.test`);

describe.each(backends)("overlapping certificates on $name", (backend) => {
  it("revoking one of two certificates that share a name leaves the other serving it, in a fresh process, without a repair pass", async () => {
    const storage = (bed.tokens = await backend.store());
    const [a, b, c] = names("rv");
    const m = manager(storage);
    const ab = await m.manage([a!, b!]);
    const bc = await m.manage([b!, c!]);
    await m.renewDue();
    await m.revoke([b!, c!]);
    // The valid {a,b} covers b: served everywhere, and c by nothing.
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, ab.id, undefined]);
    expect(await m.getCertificate(b!).then((x) => x?.id)).toBe(ab.id);
    await manager(storage).renewDue();
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, ab.id, undefined]);
    void bc;
  });

  it("removing one of two overlapping certificates leaves the other serving the shared name", async () => {
    const storage = (bed.tokens = await backend.store());
    const [a, b, c] = names("rm");
    const m = manager(storage);
    const ab = await m.manage([a!, b!]);
    const bc = await m.manage([b!, c!]);
    expect(await m.remove([b!, c!])).toBe(true);
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, ab.id, undefined]);
    // And the other way round: with {b,c} back, removing {a,b} leaves b to {b,c}.
    const again = await m.manage([b!, c!]);
    expect(again.serialNumber).not.toBe(bc.serialNumber);
    expect(await m.remove([a!, b!])).toBe(true);
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([undefined, bc.id, bc.id]);
  });
});

// Renewal writes no index entry (the id of a name set does not change): two backends suffice, to keep the file short.
describe.each(backends.filter((b) => b.name === "MemoryStorage" || b.name === "PostgresStorage"))("overlapping certificates on $name, renewed", (backend) => {
  it("renewing one of two overlapping certificates moves the shared name to it, the same in every process whatever it read before", async () => {
    const storage = (bed.tokens = await backend.store());
    const [a, b, c] = names("rn");
    const m = manager(storage);
    const ab = await m.manage([a!, b!]);
    const bc = await renewPast(m, [b!, c!], ab);
    expect(await servedIds(storage, [b!])).toEqual([bc.id]);
    const ab2 = await renewPast(m, [a!, b!], bc);
    // The latest notAfter wins: {a,b} now, in a fresh process and in one that read {b,c} last.
    const readBc = manager(storage);
    expect((await readBc.find([b!, c!]))?.id).toBe(bc.id);
    expect((await readBc.getCertificate(b!))?.id).toBe(ab2.id);
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, ab.id, bc.id]);
    expect(await manager(storage).lookup(b!).then((x) => x?.serialNumber)).toBe(ab2.serialNumber);
    // And back, renewing {b,c}.
    const bc2 = await renewPast(m, [b!, c!], ab2);
    const readAb = manager(storage);
    expect((await readAb.find([a!, b!]))?.id).toBe(ab.id);
    expect((await readAb.getCertificate(b!))?.serialNumber).toBe(bc2.serialNumber);
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, bc.id, bc.id]);
    const records = await storedCertificateRecords(storage);
    expect(expectedServedId(records, b!, Date.now())).toBe(bc.id);
  });
});

describe("overlapping certificates: per-process caches and crashes (MemoryStorage)", () => {
  it("a revoke in one process is honoured by another within its cacheTtlMs, not later", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const [a, b, c] = names("ttl");
    let now = Date.now();
    const issuer = manager(storage);
    const ab = await issuer.manage([a!, b!]);
    const bc = await renewPast(issuer, [b!, c!], ab);
    const cacheTtlMs = 30_000;
    const server = manager(storage, { now: () => now, cacheTtlMs });
    const uncached = manager(storage, { now: () => now, cacheTtlMs: 0 });
    expect((await server.getCertificate(b!))?.id).toBe(bc.id);
    now += 1_000;
    await manager(storage, { now: () => now }).revoke([b!, c!]);
    const revokedAt = now;
    // Within the bound, the serving process may still answer from memory (it does: the bound is real)...
    now = revokedAt + cacheTtlMs - 1_001;
    expect((await server.getCertificate(b!))?.id).toBe(bc.id);
    expect((await uncached.getCertificate(b!))?.id).toBe(ab.id);
    // ...and once cacheTtlMs passed since the revoke completed, it serves what storage holds.
    now = revokedAt + cacheTtlMs;
    expect((await server.getCertificate(b!))?.id).toBe(ab.id);
    expect(await server.getCertificate(c!)).toBeUndefined();
    expect(await server.lookup(c!)).toBeUndefined();
  });

  it("a store written before the name index listed every certificate: one-id entries are served, and manage() adds what is missing", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const [a, b, c] = names("legacy");
    const m = manager(storage);
    const ab = await m.manage([a!, b!]);
    const bc = await m.manage([b!, c!]);
    // What the earlier version left after revoking {b,c}: b's entry names the revoked certificate.
    for (const [name, id] of [[a!, ab.id], [b!, bc.id], [c!, bc.id]] as const) await storage.put(`names/${name}`, JSON.stringify({ id }));
    await storage.delete(`certificates/${bc.id}.json`);
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, undefined, undefined]);
    await manager(storage).manage([a!, b!]);
    expect(await servedIds(storage, [a!, b!, c!])).toEqual([ab.id, ab.id, undefined]);
  });

  it("an index entry naming a certificate whose record is gone (a crash between the two writes) is skipped, and read once per cacheTtlMs, not per handshake", async () => {
    const storage = (bed.tokens = new MemoryStorage());
    const [a, b] = names("ghost");
    const ab = await manager(storage).manage([a!, b!]);
    await storage.put(`names/${b}`, JSON.stringify({ ids: [ab.id, "b.ghost-AAAAAAAAAAAA"] }));
    const reads: string[] = [];
    const counted: Storage = { ...storage, getEntry: (key) => (reads.push(key), storage.getEntry(key)), get: (key) => (reads.push(key), storage.get(key)), put: storage.put.bind(storage), delete: storage.delete.bind(storage), list: storage.list.bind(storage), lock: storage.lock.bind(storage) };
    let now = Date.now();
    const server = manager(counted, { now: () => now });
    for (let i = 0; i < 5; i++) expect((await server.getCertificate(b!))?.id).toBe(ab.id);
    expect(reads.filter((k) => k.includes("AAAAAAAAAAAA")).length).toBe(1);
    now += 60_000;
    expect((await server.getCertificate(b!))?.id).toBe(ab.id);
    expect(reads.filter((k) => k.includes("AAAAAAAAAAAA")).length).toBe(2);
  });

  it("a crash after any write of issuing, revoking or removing an overlapping certificate leaves every name served by the rule in a fresh process", async () => {
    type Step = "manage" | "revoke" | "remove";
    let searched = 0;
    let skipped = 0;
    /** A new store holding what `from` holds (accounts, certificates, name index): no second account or issuance per point. */
    const copyOf = async (from: Storage): Promise<MemoryStorage> => {
      const to = new MemoryStorage();
      for (const prefix of ["accounts/", "certificates/", "names/"]) {
        for (const key of (await from.list(prefix)).keys) await to.put(key, (await from.get(key))!);
      }
      return to;
    };
    for (const step of ["manage", "revoke", "remove"] as Step[]) {
      const [a, b, c] = names(`cr${step}`);
      const base = (bed.tokens = new MemoryStorage());
      await manager(base).manage([a!, b!]);
      if (step === "remove") await manager(base).manage([b!, c!]);
      // A clean run counts the writes to crash after.
      let points: Array<{ put?: number; delete?: number }> = [];
      for (let k = 0; ; k++) {
        const storage = (bed.tokens = await copyOf(base));
        // A revoke needs a certificate the CA has not revoked yet: a new {b,c} each time.
        if (step === "revoke") await manager(storage).manage([b!, c!]);
        const dying = crashable({ fetch: bed.pebble.fetch, storage }, k === 0 ? {} : points[k - 1]!);
        const victim = manager(dying.storage, { fetch: dying.fetch });
        const run = step === "manage" ? victim.manage([b!, c!]) : step === "revoke" ? victim.revoke([b!, c!]) : victim.remove([b!, c!]);
        const err = await run.then(() => undefined, (e: unknown) => e);
        if (k === 0) {
          expect(err).toBeUndefined();
          points = [
            ...Array.from({ length: dying.puts }, (_, i) => ({ put: i + 1 })),
            ...Array.from({ length: dying.deletes }, (_, i) => ({ delete: i + 1 })),
          ];
          expect(points.length).toBeGreaterThan(step === "manage" ? 4 : 1);
          continue;
        }
        if (!dying.dead && err === undefined) {
          // This run needed fewer writes than the counting one (Pebble answers a challenge valid or
          // pending by a race, and an order may need one poll less): crash point k was never reached.
          // Seen once in a full run beside a CPU hog. Counted; most points must still be searched.
          skipped++;
          if (k >= points.length) break;
          continue;
        }
        // The crash surfaces as it is or wrapped (an IssuanceError naming the step it stopped).
        expect(dying.dead && err !== undefined).toBe(true);
        searched++;
        // No repair pass: a fresh process only serves.
        const records = await storedCertificateRecords(storage);
        const fresh = manager(storage);
        for (const name of [a!, b!, c!]) {
          const want = expectedServedId(records, name, Date.now());
          expect({ crash: points[k - 1], step, name, served: (await fresh.getCertificate(name))?.id }).toEqual({ crash: points[k - 1], step, name, served: want });
        }
        if (k >= points.length) break;
      }
    }
    console.log(`overlapping-names crash search: ${searched} crash points (manage, revoke, remove of {b,c} beside {a,b}), ${skipped} not reached by a shorter run`);
    expect(searched).toBeGreaterThan(6);
    expect(skipped).toBeLessThan(searched);
  });
});
