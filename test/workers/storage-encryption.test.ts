import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { settled, startWorker, type WorkerInstance } from "../support/worker.ts";

// Issue 12, encryption lifecycle, as an operator goes through it with `wrangler secret put` between
// deploys: one store (persisted across Worker restarts), the Worker restarted with each new setting.
let pebble: PebbleInstance;
let dir: string;

const KEY_A = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ=="; // 37 bytes, base64
const KEY_B = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; // 32 bytes, hex
const KEY_C = "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=";

beforeAll(async () => {
  pebble = await startPebble();
  dir = await mkdtemp(join(tmpdir(), "edgecert-worker-enc-"));
});
afterAll(async () => {
  await pebble?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `body` against the Worker started on the shared store with `vars`, then stops it. */
async function withWorker<T>(vars: Record<string, string>, body: (w: WorkerInstance) => Promise<T>): Promise<T> {
  const w = await startWorker(pebble, { vars, persistTo: dir });
  try {
    return await body(w);
  } finally {
    await w.stop();
  }
}

interface Report {
  counts: Record<string, number>;
  unopenable: string[];
  clearValuesRemaining: number;
  readClearValues: boolean;
  cursor: string | null;
  next: string;
}

/** Reseals everything, following the cursor (bounded). */
async function resealAll(w: WorkerInstance): Promise<Report> {
  const total: Report = { counts: {}, unopenable: [], clearValuesRemaining: 0, readClearValues: false, cursor: null, next: "" };
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) {
    const res = await w.admin(`/admin/storage/reseal${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`, { method: "POST" });
    expect(res.status).toBe(200);
    const page = (await res.json()) as Report;
    for (const [k, n] of Object.entries(page.counts)) total.counts[k] = (total.counts[k] ?? 0) + n;
    total.unopenable.push(...page.unopenable);
    total.clearValuesRemaining += page.clearValuesRemaining;
    total.readClearValues = page.readClearValues;
    total.next = page.next;
    cursor = page.cursor;
    if (!cursor) return total;
  }
  throw new Error("reseal did not finish in 50 calls");
}

/** Every raw value of the key-bearing records, where they are really kept: the KV copies and the Durable Object rows. */
async function rawValues(w: WorkerInstance): Promise<string[]> {
  const kv = await w.mf.getKVNamespace("CERTS");
  const out: string[] = [];
  for (const { name } of (await kv.list({ prefix: "certificates/" })).keys) out.push(new TextDecoder().decode(new Uint8Array((await kv.get(name, "arrayBuffer"))!)));
  const { DurableObjectStorage } = await import("../../src/storage/durable-object-storage.ts");
  const strong = new DurableObjectStorage((await w.mf.getDurableObjectNamespace("EDGECERT_STORE")) as never);
  for (const prefix of ["accounts/", "orders/"]) {
    for (const key of (await strong.list(prefix)).keys) out.push(new TextDecoder().decode((await strong.get(key))!));
  }
  return out;
}

async function certificateOf(w: WorkerInstance, id: string): Promise<Response> {
  return await w.admin(`/admin/certificates/${id}?include=privateKey`);
}

describe("Worker storage encryption: enable, rotate, mismatch, disable", () => {
  it("goes through the whole lifecycle without losing a certificate, and says so when a key opens nothing", async () => {
    // 1. No encryption: a certificate, stored in clear.
    const id = await withWorker({}, async (w) => {
      const res = await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["enc.example.test"] }) });
      const { id } = (await res.json()) as { id: string };
      expect((await settled(w, id)).status).toBe("valid");
      expect((await rawValues(w)).some((v) => v.includes("PRIVATE KEY"))).toBe(true);
      return id;
    });
    const original = (await withWorker({}, async (w) => (await (await certificateOf(w, id)).json()) as { privateKeyPem: string; certificate: { serialNumber: string } }));

    // 2. Enabling over clear records: without migration mode a clear record is refused (sealed means
    // authenticated), never read nor sealed by a reseal; the answers say how to migrate.
    await withWorker({ STORAGE_ENCRYPTION_KEY: KEY_A }, async (w) => {
      const res = await certificateOf(w, id);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('STORAGE_ENCRYPTION_READ_CLEAR = "true"');
      const report = await resealAll(w);
      expect(report.clearValuesRemaining).toBeGreaterThanOrEqual(2);
      expect(report.counts["sealed-plaintext"] ?? 0).toBe(0);
      expect(report.next).toContain('STORAGE_ENCRYPTION_READ_CLEAR = "true"');
      expect((await rawValues(w)).some((v) => v.includes("PRIVATE KEY"))).toBe(true);
    });
    // Migration mode: clear records are read; reseal seals every one of them, in KV and in the Durable Object,
    // and says how to leave the mode.
    await withWorker({ STORAGE_ENCRYPTION_KEY: KEY_A, STORAGE_ENCRYPTION_READ_CLEAR: "true" }, async (w) => {
      expect((await certificateOf(w, id)).status).toBe(200);
      const report = await resealAll(w);
      expect(report.unopenable).toEqual([]);
      expect(report.clearValuesRemaining).toBe(0);
      expect(report.readClearValues).toBe(true);
      expect(report.next).toContain('STORAGE_ENCRYPTION_READ_CLEAR = "" (migration mode off)');
      expect(report.counts["sealed-plaintext"]).toBeGreaterThanOrEqual(2); // the account and the certificate
      expect((await rawValues(w)).filter((v) => v.includes("PRIVATE KEY"))).toEqual([]);
      // A second run has nothing left to do.
      const again = await resealAll(w);
      expect(again.counts["sealed-plaintext"] ?? 0).toBe(0);
      expect(again.counts.current).toBe(report.counts["sealed-plaintext"]);
    });
    // Migration mode off again: everything is sealed, so everything reads.
    await withWorker({ STORAGE_ENCRYPTION_KEY: KEY_A }, async (w) => {
      expect((await certificateOf(w, id)).status).toBe(200);
      const report = await resealAll(w);
      expect(report.clearValuesRemaining).toBe(0);
      expect(report.next).toBe("every key-bearing record was visited");
    });

    // 3. A key that opens nothing (rotated without PREVIOUS): 503 storage_key_mismatch, not 500.
    await withWorker({ STORAGE_ENCRYPTION_KEY: KEY_B }, async (w) => {
      const res = await certificateOf(w, id);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("storage_key_mismatch");
      expect(body.error.message).toContain("STORAGE_ENCRYPTION_KEY_PREVIOUS");
      const renew = await w.admin(`/admin/certificates/${id}/renew`, { method: "POST" });
      expect(renew.status).toBe(503);
      expect(((await renew.json()) as { error: { code: string } }).error.code).toBe("storage_key_mismatch");
      const reseal = await w.admin("/admin/storage/reseal", { method: "POST" });
      expect(reseal.status).toBe(503);
    });
    // Deleting the key without saying "off" is the same mismatch, not clear text garbage or a 500.
    await withWorker({}, async (w) => {
      const res = await certificateOf(w, id);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("storage_key_mismatch");
    });

    // 4. Rotation: the new key with the old one as PREVIOUS reads everything; reseal moves it all to the new key.
    await withWorker({ STORAGE_ENCRYPTION_KEY: KEY_B, STORAGE_ENCRYPTION_KEY_PREVIOUS: KEY_A }, async (w) => {
      expect((await certificateOf(w, id)).status).toBe(200);
      const report = await resealAll(w);
      expect(report.unopenable).toEqual([]);
      expect(report.counts["sealed-previous"]).toBeGreaterThanOrEqual(2);
    });
    // The old key can go: the authoritative copies were all resealed.
    await withWorker({ STORAGE_ENCRYPTION_KEY: KEY_B }, async (w) => {
      const body = (await (await certificateOf(w, id)).json()) as { privateKeyPem: string; certificate: { serialNumber: string } };
      expect(body.privateKeyPem).toBe(original.privateKeyPem);
      expect(body.certificate.serialNumber).toBe(original.certificate.serialNumber);
      // Renewal works under the new key.
      expect((await w.admin(`/admin/certificates/${id}/renew`, { method: "POST" })).status).toBe(200);
    });

    // 5. Turning it off takes an explicit STORAGE_ENCRYPTION="off" with the key as PREVIOUS; reseal writes clear text back.
    await withWorker({ STORAGE_ENCRYPTION: "off", STORAGE_ENCRYPTION_KEY_PREVIOUS: KEY_B }, async (w) => {
      const report = await resealAll(w);
      expect(report.unopenable).toEqual([]);
      expect(report.counts.unsealed).toBeGreaterThanOrEqual(2);
    });
    await withWorker({}, async (w) => {
      expect((await certificateOf(w, id)).status).toBe(200);
      expect((await w.admin("/admin/storage/reseal", { method: "POST" })).status).toBe(409);
    });
    void KEY_C;
  });
});
