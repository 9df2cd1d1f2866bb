import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KvStorage } from "../../../src/storage/index.ts";
import { conformanceSeed, expectCode, runStorageConformance } from "../conformance.ts";
import { runFleetQueueTests } from "../../budget/fleet-queue-backends.ts";

runStorageConformance("KvStorage (locks in EdgecertStorageObject)", () => new KvStorage(env.KV, { locks: env.EDGECERT, lockObjectName: `kv-locks-${crypto.randomUUID()}` }), conformanceSeed(env.EDGECERT_STORAGE_SEED));

// The CA budget's fleet queue, a client per process; its own budget name (the bucket is shared by these tests).
runFleetQueueTests("KvStorage (locks in EdgecertStorageObject)", async () => {
  const name = `queue-${crypto.randomUUID()}`;
  return { clients: (n) => Array.from({ length: n }, () => new KvStorage(env.KV, { locks: env.EDGECERT, lockObjectName: name })), ca: name };
});

describe("KvStorage", () => {
  it("fails to lock without a Durable Object namespace", async () => {
    await expectCode(new KvStorage(env.KV).lock("x"), "storage");
  });

  it("stores plain KV values other tools can read", async () => {
    await new KvStorage(env.KV).put("kv-plain/readme", "hello");
    expect(await env.KV.get("kv-plain/readme", "arrayBuffer")).toEqual(new TextEncoder().encode("hello").buffer);
  });
});
