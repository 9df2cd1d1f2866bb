import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DurableObjectStorage, R2Storage } from "../../../src/storage/index.ts";
import { conformanceSeed, expectCode, runStorageConformance } from "../conformance.ts";
import { runFleetQueueTests } from "../../budget/fleet-queue-backends.ts";

runStorageConformance("R2Storage", () => new R2Storage(env.BUCKET), conformanceSeed(env.EDGECERT_STORAGE_SEED));
// As the Worker builds it: values in R2, locks (and so fences) in the Durable Object.
runStorageConformance(
  "R2Storage with locks in a Durable Object",
  () => new R2Storage(env.BUCKET, { locks: new DurableObjectStorage(env.EDGECERT) }),
  conformanceSeed(env.EDGECERT_STORAGE_SEED),
);

// The CA budget's fleet queue, a client per process; its own budget name (the bucket is shared by these tests).
runFleetQueueTests("R2Storage with locks in a Durable Object", async () => {
  const name = `queue-${crypto.randomUUID()}`;
  return { clients: (n) => Array.from({ length: n }, () => new R2Storage(env.BUCKET, { locks: new DurableObjectStorage(env.EDGECERT) })), ca: name };
});

describe("R2Storage", () => {
  it("accepts a write fenced by a Durable Object lease when its locks are there (the Worker's layout), and refuses it once released", async () => {
    const strong = new DurableObjectStorage(env.EDGECERT);
    const bulk = new R2Storage(env.BUCKET, { locks: strong });
    const key = `certificates/${crypto.randomUUID()}.json`;
    const lease = await strong.lock(`certificate/${crypto.randomUUID()}`);
    await bulk.put(key, "renewed", { fence: lease });
    expect(new TextDecoder().decode(await bulk.get(key))).toBe("renewed");
    await lease.release();
    await expectCode(bulk.put(key, "stale", { fence: lease }), "lease_lost");
    expect(new TextDecoder().decode(await bulk.get(key))).toBe("renewed");
  });

  it("keeps lock objects under the reserved prefix, out of list, with the token as the counter", async () => {
    const s = new R2Storage(env.BUCKET, { lockPrefix: "locks-r2test/" });
    const name = `job-${crypto.randomUUID()}`;
    const first = await s.lock(name);
    await first.release();
    const second = await s.lock(name, { waitMs: 0 });
    const object = await env.BUCKET.get(`locks-r2test/${name}`);
    const record = JSON.parse(new TextDecoder().decode(await object!.arrayBuffer())) as { token: number; expiresAt: number };
    expect(record.token).toBe(second.token);
    expect(second.token).toBe(first.token + 1);
    expect((await s.list("locks-r2test/")).keys).toEqual([]);
    await expectCode(s.put(`locks-r2test/${name}`, "x"), "invalid_input");
    await second.release();
    const released = await env.BUCKET.get(`locks-r2test/${name}`);
    expect((JSON.parse(new TextDecoder().decode(await released!.arrayBuffer())) as { expiresAt: number }).expiresAt).toBe(0);
  });

  it("lets exactly one of many contenders take over a lapsed lease (conditional writes)", async () => {
    const s = new R2Storage(env.BUCKET);
    const name = `race-${crypto.randomUUID()}`;
    const old = await s.lock(name, { ttlMs: 50 });
    await new Promise((r) => setTimeout(r, 80));
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => s.lock(name, { ttlMs: 10_000, waitMs: 0 })));
    const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    expect(won).toHaveLength(1);
    expect(won[0]!.token).toBe(old.token + 1);
    await won[0]!.release();
  });
});
