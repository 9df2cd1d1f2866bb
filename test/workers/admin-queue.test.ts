import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26: a certificate waiting for the CA's budget shows where it is in the queue and when it is
// expected to go, in the admin API (GET /admin/queue, GET /admin/certificates/:id). Against Pebble,
// in workerd, with CA_LIMITS allowing one new order an hour: the first certificate issues, the next
// two wait for the budget (nothing sent) and are listed in the order the budget lets them go, the
// second an hour (the bucket's refill interval) after the first.
let pebble: PebbleInstance;
let worker: WorkerInstance;

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1/1h" } });
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

type Queued = CertificateSummary & { position: number; estimatedAt: string };
const add = async (name: string) => ((await (await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) })).json()) as CertificateSummary).id;
const get = async (id: string) => (await (await worker.admin(`/admin/certificates/${id}`)).json()) as CertificateSummary & { queue: { position: number; estimatedAt: string; blockedBy: string } | null };

describe("the CA budget's queue in the admin API", () => {
  it("certificates held back by the budget are listed with their position and estimated time", { timeout: 120_000 }, async () => {
    const first = await add("q-first.queue.test");
    await vi.waitFor(async () => expect((await get(first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
    const waiting = [await add("q-second.queue.test")];
    await vi.waitFor(async () => expect((await get(waiting[0]!)).status).toBe("failed"), { timeout: 60_000, interval: 200 });
    waiting.push(await add("q-third.queue.test"));
    await vi.waitFor(async () => expect((await get(waiting[1]!)).status).toBe("failed"), { timeout: 60_000, interval: 200 });

    const res = await worker.admin("/admin/queue");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { total: number; queued: Queued[]; cursor: string | null };
    expect(body.total).toBe(2);
    expect(body.queued.map((q) => q.id).sort()).toEqual([...waiting].sort());
    expect(body.queued.map((q) => q.position)).toEqual([1, 2]);
    for (const q of body.queued) expect(q.queuedFor).toMatch(/^orders /);
    // The first goes when the one-an-hour bucket refills (within the hour); the second, behind it on
    // the same bucket, one refill interval (an hour) later.
    const [eta1, eta2] = body.queued.map((q) => Date.parse(q.estimatedAt)) as [number, number];
    expect(eta1).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect(eta1).toBeLessThanOrEqual(Date.now() + 61 * 60_000);
    expect(eta2 - eta1).toBeGreaterThanOrEqual(59 * 60_000);
    expect(eta2 - eta1).toBeLessThanOrEqual(61 * 60_000);
    // One at a time, by cursor.
    const page = (await (await worker.admin("/admin/queue?limit=1")).json()) as { queued: Queued[]; cursor: string | null };
    expect(page.queued.map((q) => q.position)).toEqual([1]);
    const next = (await (await worker.admin(`/admin/queue?limit=1&cursor=${page.cursor}`)).json()) as { queued: Queued[]; cursor: string | null };
    expect(next.queued.map((q) => q.position)).toEqual([2]);
    expect(next.cursor).toBeNull();

    // A state filter of their own in the certificate listing.
    const filtered = (await (await worker.admin("/admin/certificates?state=queued")).json()) as { certificates: CertificateSummary[] };
    expect(filtered.certificates.map((c) => c.id).sort()).toEqual([...waiting].sort());
    const one = await get(body.queued[1]!.id);
    expect(one.queue).toEqual({ position: 2, estimatedAt: body.queued[1]!.estimatedAt, blockedBy: body.queued[1]!.queuedFor });
    expect((await get(first)).queue).toBeNull();
    expect((await get(first)).queuedFor).toBeNull();
    console.log(`queue: ${body.queued.map((q) => `${q.position}. ${q.names[0]} (${q.queuedFor}) at ${q.estimatedAt}`).join("; ")}`);
  });

  it("a malformed queue query is a 400", async () => {
    for (const q of ["limit=0", "cursor=abc", "other=1"]) expect((await worker.admin(`/admin/queue?${q}`)).status, q).toBe(400);
  });
});
