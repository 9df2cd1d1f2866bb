import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate, splitPemChain } from "../../src/index.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { settled, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// The Worker runs inside workerd (Miniflare) on Pebble's http-01 port: Pebble validates by calling it.
let pebble: PebbleInstance;
let worker: WorkerInstance;

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { ALLOWED_NAMES: "*.example.test,allowed.example.org", STORAGE_ENCRYPTION_KEY: "bW9yZS10aGFuLTI1Ni1iaXRzLW9mLWtleS1tYXRlcmlhbCE=" } });
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

type Summary = CertificateSummary;
const waitUntilIssued = (id: string) => settled(worker, id);

async function add(names: string[]): Promise<Summary> {
  const res = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names }) });
  expect(res.status).toBe(202);
  return (await res.json()) as Summary;
}

describe("edgecert Worker in workerd, against Pebble", () => {
  it("issues through the admin API with Pebble validating http-01 against the Worker", async () => {
    const added = await add(["w1.example.test", "w2.example.test"]);
    expect(added.status).toBe("pending");
    const issued = await waitUntilIssued(added.id);
    expect(issued.status).toBe("valid");
    expect(issued.failures).toBe(0);

    const res = await worker.admin(`/admin/certificates/${added.id}`);
    const body = (await res.json()) as { certificate: { chainPem: string; serialNumber: string }; privateKeyPem?: string };
    expect(parseCertificate(body.certificate.chainPem).dnsNames.sort()).toEqual(["w1.example.test", "w2.example.test"]);
    expect(splitPemChain(body.certificate.chainPem).length).toBeGreaterThanOrEqual(2);
    // The key only with the explicit flag.
    expect(body.privateKeyPem).toBeUndefined();
    const withKey = (await (await worker.admin(`/admin/certificates/${added.id}?include=privateKey`)).json()) as { privateKeyPem?: string };
    expect(withKey.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // At rest, the record holding the key is sealed: no PEM in what KV stores.
    const kv = await worker.mf.getKVNamespace("CERTS");
    const stored = (await kv.list({ prefix: "certificates/" })).keys;
    expect(stored.length).toBeGreaterThan(0);
    for (const { name } of stored) {
      const raw = new TextDecoder().decode(new Uint8Array((await kv.get(name, "arrayBuffer"))!));
      expect(raw).not.toContain("PRIVATE KEY");
      expect(raw).not.toContain("BEGIN CERTIFICATE");
    }

    // Adding the same names again is idempotent.
    const again = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["w2.example.test", "w1.example.test"] }) });
    expect(again.status).toBe(200);
    expect(((await again.json()) as Summary).id).toBe(added.id);

    const list = (await (await worker.admin("/admin/certificates")).json()) as { certificates: Summary[] };
    expect(list.certificates.map((c) => c.id)).toContain(added.id);
  });

  it("the cron tick renews what is due (time controlled) and skips what is not", async () => {
    const added = await add(["cron.example.test"]);
    const issued = await waitUntilIssued(added.id);
    const serial = async () =>
      ((await (await worker.admin(`/admin/certificates/${added.id}`)).json()) as { certificate: { serialNumber: string } }).certificate.serialNumber;
    const before = await serial();
    const index = await worker.index();

    await worker.cron(Date.now());
    expect(await serial()).toBe(before);
    expect((await index.lastTick())?.outcomes.renewed ?? 0).toBe(0);

    // Just past its renewal time: the tick renews it.
    const dueAt = Date.parse(issued.nextWorkAt);
    await worker.cron(dueAt + 1_000);
    const tick = await index.lastTick();
    expect(tick?.outcomes.renewed).toBeGreaterThanOrEqual(1);
    expect(await serial()).not.toBe(before);
    const after = (await (await worker.admin(`/admin/certificates/${added.id}`)).json()) as Summary;
    expect(Date.parse(after.nextWorkAt)).toBeGreaterThan(Date.now());
  });

  it("the admin API refuses a missing or wrong token (401) and bad bodies (400/403/413) without touching storage", async () => {
    const fresh = await startWorker(pebble, { port: 0, vars: { ALLOWED_NAMES: "*.example.test" } });
    try {
      const post = (body: string, token?: string | null) => fresh.admin("/admin/certificates", { method: "POST", body, ...(token !== undefined ? { token } : {}) });
      const cases: Array<[Response, number, string]> = [
        [await post(JSON.stringify({ names: ["a.example.test"] }), null), 401, "unauthorized"],
        [await post(JSON.stringify({ names: ["a.example.test"] }), "wrong-token"), 401, "unauthorized"],
        [await fresh.admin("/admin/certificates", { token: "test-admin-token-012345678" }), 401, "unauthorized"],
        [await post("{not json"), 400, "invalid_json"],
        [await post("[1,2]"), 400, "invalid_body"],
        [await post(JSON.stringify({ names: ["a.example.test"], extra: 1 })), 400, "unknown_field"],
        [await post(JSON.stringify({ names: [] })), 400, "invalid_names"],
        [await post(JSON.stringify({ names: "a.example.test" })), 400, "invalid_names"],
        [await post(JSON.stringify({ names: ["bad name.example.test"] })), 400, "invalid_names"],
        [await post(JSON.stringify({ names: Array.from({ length: 101 }, (_, i) => `n${i}.example.test`) })), 400, "invalid_names"],
        [await post(JSON.stringify({ names: ["evil.example.org"] })), 403, "name_not_allowed"],
        [await post(JSON.stringify({ names: ["x".repeat(20_000)] })), 413, "body_too_large"],
        [await fresh.admin("/admin/certificates/nope"), 404, "not_found"],
        [await fresh.admin("/admin/nothing-here"), 404, "not_found"],
      ];
      for (const [res, status, code] of cases) {
        expect(res.status, code).toBe(status);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      }
      // Nothing was stored: no index entry, no KV key.
      expect(await (await fresh.index()).count()).toBe(0);
      const kv = await fresh.mf.getKVNamespace("CERTS");
      expect((await kv.list()).keys).toEqual([]);
    } finally {
      await fresh.stop();
    }
  });

  it("admin revoke and delete act on exactly that certificate, even when names overlap", async () => {
    const single = await waitUntilIssued((await add(["overlap.example.test"])).id);
    const pair = await waitUntilIssued((await add(["overlap.example.test", "overlap2.example.test"])).id);
    expect((await worker.admin(`/admin/certificates/${single.id}/revoke`, { method: "POST", body: JSON.stringify({ reason: 99 }) })).status).toBe(400);
    const revoked = await worker.admin(`/admin/certificates/${single.id}/revoke`, { method: "POST", body: JSON.stringify({ reason: 4 }) });
    expect(revoked.status).toBe(200);
    expect((await worker.admin(`/admin/certificates/${single.id}`)).status).toBe(404);
    const kept = (await (await worker.admin(`/admin/certificates/${pair.id}`)).json()) as { certificate: { chainPem: string } | null };
    expect(kept.certificate).not.toBeNull();
    expect((await worker.admin(`/admin/certificates/${pair.id}`, { method: "DELETE" })).status).toBe(200);
    expect((await worker.admin(`/admin/certificates/${pair.id}`)).status).toBe(404);
    expect((await worker.admin(`/admin/certificates/${pair.id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("http-01: unknown and malformed tokens are 404, never cached", async () => {
    for (const path of ["/.well-known/acme-challenge/unknownToken123", "/.well-known/acme-challenge/..%2Fx", "/.well-known/acme-challenge/"]) {
      const res = await fetch(new URL(path, worker.url));
      expect(res.status, path).toBe(404);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("scale: with 10,000 certificates a tick reads only the due ones, and O(1) rows when none is due", async () => {
    const fresh = await startWorker(pebble, { port: 0 });
    try {
      const index = await fresh.index();
      const now = Date.now();
      const far = now + 30 * 86_400_000;
      const entries = Array.from({ length: 10_000 }, (_, i) => ({
        id: `seed-${i}`,
        names: [`seed-${i}.example.test`],
        dueAt: i < 5 ? now - 1_000 : far + i,
        status: "valid",
        failures: 0,
        updatedAt: now,
      }));
      for (let i = 0; i < entries.length; i += 2_000) await index.upsertMany(entries.slice(i, i + 2_000));
      expect(await index.count()).toBe(10_000);

      await fresh.cron(now);
      const busy = await index.lastTick();
      expect(busy?.dispatched).toBe(5);
      // 5 rows found + 5 claims: nothing proportional to the 10,000.
      expect(busy!.rowsRead).toBeLessThanOrEqual(2 * 5 + 4);

      await fresh.cron(now + 1_000);
      const idle = await index.lastTick();
      expect(idle?.dispatched).toBe(0);
      // One row looked at in each of the due indexes (renewals; first issuances by turn and by due time) and the
      // count of pending first issuances.
      expect(idle!.rowsRead).toBeLessThanOrEqual(4);
      console.log(`scale tick: 10,000 certificates, 5 due -> ${busy!.rowsRead} rows read; none due -> ${idle!.rowsRead}`);
    } finally {
      await fresh.stop();
    }
  });
});
