import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26: a certificate the CA budget holds back is visible as an event, with its place in the queue
// and when it is expected to go — the same as GET /admin/queue shows — and is not reported as a failed
// attempt (nothing was sent to the CA). The Worker in workerd against Pebble, CA_LIMITS of one new
// order an hour, webhooks to a receiver on 127.0.0.1. The old Worker sent `certificate.failed` for
// every wait, with neither a place nor an estimate. Cost: ~10 s (each held-back invocation waits 3 s
// for the budget before it records the wait).
let pebble: PebbleInstance;
let worker: WorkerInstance;
let receiver: WebhookReceiver;

beforeAll(async () => {
  pebble = await startPebble();
  receiver = await startWebhookReceiver();
  worker = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1/1h", WEBHOOK_ALLOW_PRIVATE_URLS: "true" } });
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await pebble?.stop();
});

interface Event {
  type: string;
  data: { id: string; names: string[]; position: number | null; estimatedAt: string; blockedBy: string; detail: string };
}

const add = async (name: string) => {
  const res = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as CertificateSummary).id;
};
const events = () => receiver.requests.filter((r) => r.path === "/all").map((r) => JSON.parse(r.body) as Event);

describe("certificate.queued (issue 26)", () => {
  it("a certificate held back by the CA budget is announced with its place and estimate as GET /admin/queue shows them, not as a failure", { timeout: 90_000 }, async () => {
    const res = await worker.admin("/admin/webhooks", { method: "POST", body: JSON.stringify({ url: `${receiver.origin}/all`, label: "all" }) });
    expect(res.status).toBe(201);
    const first = await add("first.queued-event.test");
    await receiver.waitFor(() => events().some((e) => e.type === "certificate.obtained" && e.data.id === first), "the first certificate obtained", 60_000);
    // The bucket's one token is spent: these two wait.
    const waiting = [await add("second.queued-event.test"), await add("third.queued-event.test")];
    await receiver.waitFor(() => waiting.every((id) => events().some((e) => e.type === "certificate.queued" && e.data.id === id)), "both announced as queued", 60_000);
    const queue = (await (await worker.admin("/admin/queue")).json()) as { total: number; queued: Array<{ id: string; position: number; estimatedAt: string; queuedFor: string }> };
    expect(queue.total).toBe(2);
    const announced = events().filter((e) => e.type === "certificate.queued");
    console.log(`queued events: ${announced.map((e) => `${e.data.names[0]} #${e.data.position} at ${e.data.estimatedAt} (${e.data.blockedBy.split(" ")[0]})`).join("; ")}`);
    expect(announced).toHaveLength(2);
    for (const e of announced) {
      const listed = queue.queued.find((q) => q.id === e.data.id)!;
      expect(e.data).toMatchObject({ position: listed.position, estimatedAt: listed.estimatedAt, blockedBy: listed.queuedFor });
      expect(e.data.blockedBy).toMatch(/^orders https?:\/\//);
      // Expected about an hour after the first order (the bucket's refill), not now.
      expect(Date.parse(e.data.estimatedAt)).toBeGreaterThan(Date.now() + 50 * 60_000);
    }
    expect(announced.map((e) => e.data.position).sort()).toEqual([1, 2]);
    // A wait is not a failed attempt: no certificate.failed for either.
    await vi.waitFor(async () => expect(((await (await worker.admin("/admin/certificates?state=queued")).json()) as { certificates: unknown[] }).certificates).toHaveLength(2));
    expect(events().filter((e) => e.type === "certificate.failed")).toEqual([]);
  });
});
