/**
 * RedisStorage through Bun's built-in Redis client, in the real bun binary (the `bun` devDependency)
 * against a private redis-server: the exported storage conformance suite, due-index cases included.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { storageConformanceCases } from "../../src/storage/conformance.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { findRuntime, runScript } from "../runtimes/runtime-binaries.ts";
import { redisServerBinary, startRedis, type RedisServer } from "../support/redis-server.ts";

const bun = findRuntime("bun");

describe.skipIf(!redisServerBinary() && !process.env.CI)("RedisStorage over Bun's RedisClient, in bun", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("passes the storage conformance suite (due-index cases included)", async () => {
    if ("error" in bun) throw new Error(bun.error);
    const run = await runScript(bun.path, ["run", join("test", "fleet", "bun-redis-child.ts")], { REDIS_URL: server.url }, 120_000);
    const context = `bun exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
    expect(run.timedOut, context).toBe(false);
    const lines = run.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { case?: string; ok?: boolean; done?: boolean; cases?: number; failed?: number; runtime?: string });
    const summary = lines.find((l) => l.done);
    expect(lines.filter((l) => l.ok === false), context).toEqual([]);
    expect(summary, context).toMatchObject({ failed: 0 });
    // Every case of the exported suite, plus the one of the child.
    expect(summary!.cases).toBe(storageConformanceCases(() => new MemoryStorage()).length + 1);
    expect(run.code, context).toBe(0);
    console.log(`${summary!.runtime}: RedisStorage (fromBunRedis) passed ${summary!.cases} conformance cases`);
  }, 150_000);
});
