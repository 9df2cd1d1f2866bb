import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DurableObjectStorage } from "../../../src/storage/index.ts";
import { OBJECT_ORIGIN } from "../../../src/storage/durable-object-protocol.ts";
import { conformanceSeed, expectCode, runStorageConformance } from "../conformance.ts";
import { runFleetQueueTests } from "../../budget/fleet-queue-backends.ts";

// A fresh object per storage instance: tests do not share an object's single-threaded queue.
runStorageConformance("DurableObjectStorage", () => new DurableObjectStorage(env.EDGECERT, { name: `conformance-${crypto.randomUUID()}` }), conformanceSeed(env.EDGECERT_STORAGE_SEED));

// The CA budget's fleet queue over one object, a client per process (as the Worker's invocations).
runFleetQueueTests("DurableObjectStorage", async () => {
  const name = `queue-${crypto.randomUUID()}`;
  return { clients: (n) => Array.from({ length: n }, () => new DurableObjectStorage(env.EDGECERT, { name })) };
});

describe("DurableObjectStorage", () => {
  it("shares data and locks between instances naming the same object, not across objects", async () => {
    const name = `shared-${crypto.randomUUID()}`;
    const a = new DurableObjectStorage(env.EDGECERT, { name });
    const b = new DurableObjectStorage(env.EDGECERT, { name });
    await a.put("x", "1");
    expect(await b.get("x")).toEqual(new TextEncoder().encode("1"));
    expect(await new DurableObjectStorage(env.EDGECERT, { name: `${name}-other` }).get("x")).toBeUndefined();
    const lease = await a.lock("l");
    await expectCode(b.lock("l", { waitMs: 0 }), "storage");
    await lease.release();
    expect((await b.lock("l", { waitMs: 0 })).token).toBeGreaterThan(lease.token);
  });

  it("answers malformed requests with 400 and unknown routes with 404", async () => {
    const stub = env.EDGECERT.get(env.EDGECERT.idFromName(`raw-${crypto.randomUUID()}`));
    expect((await stub.fetch(`${OBJECT_ORIGIN}/value?key=..%2Fx`)).status).toBe(400);
    expect((await stub.fetch(`${OBJECT_ORIGIN}/lock`, { method: "POST", body: JSON.stringify({ name: "x" }) })).status).toBe(400);
    expect((await stub.fetch(`${OBJECT_ORIGIN}/nope`)).status).toBe(404);
  });

  it("getMany reads many keys in one request to the object (one per 1,000 keys), in order, undefined where absent", async () => {
    let requests = 0;
    const counted = {
      idFromName: (n: string) => env.EDGECERT.idFromName(n),
      get: (id: Parameters<typeof env.EDGECERT.get>[0]) => {
        const stub = env.EDGECERT.get(id);
        return { fetch: (input: string, init?: RequestInit) => (requests++, stub.fetch(input, init)) };
      },
    };
    const storage = new DurableObjectStorage(counted, { name: `many-${crypto.randomUUID()}` });
    for (let i = 0; i < 30; i++) await storage.put(`m/${i}`, `v${i}`);
    await storage.delete("m/7");
    const keys = Array.from({ length: 1_500 }, (_, i) => `m/${i}`);
    requests = 0;
    const values = await storage.getMany(keys);
    expect(requests).toBe(2);
    expect(values).toHaveLength(1_500);
    expect(values.slice(0, 9).map((v) => (v ? new TextDecoder().decode(v) : undefined))).toEqual(["v0", "v1", "v2", "v3", "v4", "v5", "v6", undefined, "v8"]);
    expect(values.slice(30).every((v) => v === undefined)).toBe(true);
    expect(await storage.getMany([])).toEqual([]);
    await expectCode(storage.getMany(["../bad"]), "invalid_input");
    const stub = env.EDGECERT.get(env.EDGECERT.idFromName(`raw-${crypto.randomUUID()}`));
    for (const body of ["{}", JSON.stringify({ keys: [1] }), JSON.stringify({ keys: Array.from({ length: 1_001 }, (_, i) => `k${i}`) })]) {
      expect((await stub.fetch(`${OBJECT_ORIGIN}/values`, { method: "POST", body })).status).toBe(400);
    }
  });
});
