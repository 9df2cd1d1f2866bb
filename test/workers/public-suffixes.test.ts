import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { certificateSummary, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 24: the Worker's script carries no Public Suffix List; the CA budget reads it from the Worker's
// static asset (workers/public-suffix-source.ts, put in place of the built-in copy by wrangler.toml's
// [alias]). In workerd against Pebble, with one certificate an hour per registered domain: names under
// co.uk count per registered domain, as the list says (with no list, the default rule would count every
// co.uk name under "co.uk" and hold c.other.co.uk back too).
let pebble: PebbleInstance;
let worker: WorkerInstance;

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { CA_LIMITS: "domain=1/1h" } });
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

const add = async (name: string) => ((await (await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) })).json()) as CertificateSummary).id;
const get = (id: string) => certificateSummary(worker, id);
const settledAs = async (id: string, status: string) => vi.waitFor(async () => expect((await get(id)).status).toBe(status), { timeout: 60_000, interval: 200 });

describe("the Worker's Public Suffix List, from its static asset", () => {
  it("counts names per registered domain as the list does", { timeout: 120_000 }, async () => {
    const first = await add("a.example.co.uk");
    await settledAs(first, "valid");
    const second = await add("b.example.co.uk");
    await settledAs(second, "failed");
    expect((await get(second)).queuedFor).toBe("domain example.co.uk");
    const other = await add("c.other.co.uk");
    await settledAs(other, "valid");
    expect((await get(other)).queuedFor).toBeNull();
  });

  it("deployed without its assets: a configuration_error naming ASSETS, and http-01 keeps answering", async () => {
    const broken = await startWorker(pebble, { withoutAssets: true, port: 0 });
    try {
      const res = await broken.admin("/admin/status");
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("configuration_error");
      expect(body.error.message).toMatch(/^ASSETS: .*\[assets\]/);
      expect((await fetch(new URL("/.well-known/acme-challenge/unknown-token", broken.url))).status).toBe(404);
    } finally {
      await broken.stop();
    }
  });
});
