import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "redis";
import { Redis as IORedis } from "ioredis";
import { RedisStorage } from "../../src/storage/redis/redis-storage.ts";
import { fromIoredis, fromNodeRedis } from "../../src/storage/redis/redis-client.ts";
import { runStorageConformance } from "../storage/conformance.ts";
import { runRenewDueIndexTests } from "./renew-due-index.ts";
import { runFleetQueueTests } from "../budget/fleet-queue-backends.ts";
import { expectNoReuseAfterDataLoss } from "./data-loss.ts";
import { cp, rm } from "node:fs/promises";
import { redisServerBinary, startRedis, type RedisServer } from "../support/redis-server.ts";

const binary = redisServerBinary();
if (!binary) console.warn(process.env.CI ? "redis-server missing in CI: the Redis tests will fail" : "SKIPPED: redis-server is not installed — RedisStorage tests did not run (apt-get install redis-server)");

describe.skipIf(!binary && !process.env.CI)("RedisStorage against a private redis-server", () => {
  let server: RedisServer;
  let nodeRedis: ReturnType<typeof createClient>;
  let ioredis: IORedis;
  beforeAll(async () => {
    server = await startRedis();
    nodeRedis = createClient({ url: server.url });
    // node-redis throws an unhandled error event while reconnecting unless someone listens.
    nodeRedis.on("error", () => undefined);
    await nodeRedis.connect();
    ioredis = new IORedis(server.url, { lazyConnect: false });
    ioredis.on("error", () => undefined);
  });
  afterAll(async () => {
    // Bounded: twice in loaded full runs quit() never settled after the restart tests (the hook timed
    // out at 60 s, then at 120 s; alone the file passes); then the client is closed without waiting.
    const quit = nodeRedis?.quit().then(() => true, () => true);
    const quitted = await Promise.race([quit, new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000))]);
    if (!quitted) nodeRedis?.destroy();
    ioredis?.disconnect();
    await server?.stop();
  });

  const viaNodeRedis = () => new RedisStorage({ client: fromNodeRedis(nodeRedis), prefix: "t-node" });
  const viaIoredis = () => new RedisStorage({ client: fromIoredis(ioredis), prefix: "t-io" });
  runStorageConformance("RedisStorage (node-redis)", viaNodeRedis);
  runStorageConformance("RedisStorage (ioredis)", viaIoredis);
  runRenewDueIndexTests("RedisStorage", async () => ({ storage: new RedisStorage({ client: fromIoredis(ioredis), prefix: `renew-${crypto.randomUUID().slice(0, 8)}` }) }));
  runFleetQueueTests("RedisStorage", async () => {
    const prefix = `queue-${crypto.randomUUID().slice(0, 8)}`;
    return { clients: (n) => Array.from({ length: n }, (_, i) => new RedisStorage({ client: i % 2 ? fromNodeRedis(nodeRedis) : fromIoredis(ioredis), prefix })) };
  });

  it("both clients see one store under one prefix, and prefixes keep stores apart", async () => {
    const a = new RedisStorage({ client: fromNodeRedis(nodeRedis), prefix: "shared" });
    const b = new RedisStorage({ client: fromIoredis(ioredis), prefix: "shared" });
    const other = new RedisStorage({ client: fromIoredis(ioredis), prefix: "elsewhere" });
    await a.put("x/one", Uint8Array.of(0, 255, 10, 13));
    expect(await b.get("x/one")).toEqual(Uint8Array.of(0, 255, 10, 13));
    expect((await b.getEntry("x/one"))?.version).toBe((await a.getEntry("x/one"))?.version);
    expect(await other.get("x/one")).toBeUndefined();
    const lease = await a.lock("x/lock", { ttlMs: 5_000 });
    await b.put("x/one", "fenced", { fence: lease });
    await lease.release();
  });

  it("keeps values, versions and fencing tokens across a server restart (AOF)", async () => {
    const s = viaIoredis();
    await s.put("restart/k", "kept");
    const before = (await s.getEntry("restart/k"))!.version;
    const lease = await s.lock("restart/lock", { ttlMs: 60_000 });
    await server.restart();
    // ioredis reconnects by itself; node-redis too.
    expect(new TextDecoder().decode(await s.get("restart/k"))).toBe("kept");
    expect((await s.getEntry("restart/k"))!.version).toBe(before);
    await s.put("restart/k", "fenced after restart", { fence: lease });
    await lease.release();
    const next = await s.lock("restart/lock", { waitMs: 0 });
    expect(next.token).toBeGreaterThan(lease.token);
    await next.release();
    const viaNode = viaNodeRedis();
    await viaNode.put("restart/n", "node-redis reconnected");
    expect(await viaNode.get("restart/n")).toBeDefined();
  });

  it("never reuses a version or a fencing token after Redis loses everything (FLUSHALL, as a restart without persistence)", async () => {
    const prefix = `flush-${crypto.randomUUID().slice(0, 8)}`;
    await expectNoReuseAfterDataLoss(viaIoredis, { takeBackup: async () => undefined, restoreBackup: async () => void (await ioredis.flushall()) }, prefix);
  });

  it("never reuses a version or a fencing token after an older backup is restored (data directory copied while down)", async () => {
    const prefix = `backup-${crypto.randomUUID().slice(0, 8)}`;
    const backup = `${server.dir}.backup`;
    const copyDir = async (from: string, to: string) => {
      await server.kill();
      await rm(to, { recursive: true, force: true });
      await cp(from, to, { recursive: true });
      await server.start();
    };
    try {
      await expectNoReuseAfterDataLoss(viaIoredis, { takeBackup: () => copyDir(server.dir, backup), restoreBackup: () => copyDir(backup, server.dir) }, prefix);
    } finally {
      await rm(backup, { recursive: true, force: true });
    }
  });

  it("turns a client failure into EdgecertError(storage) with the cause", async () => {
    const broken = new RedisStorage({ client: { eval: async () => Promise.reject(new Error("connection refused")) } });
    await expect(broken.get("a")).rejects.toMatchObject({ code: "storage", cause: { message: "connection refused" } });
  });
});
