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
});
