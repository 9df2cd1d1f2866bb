import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PebbleInstance } from "../support/pebble.ts";
import { openFilesUnder } from "../support/process-tree.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

// A certificate's renewer object leaves memory once its renewal is done (issue 26). The ACME client
// bounded every request with AbortSignal.timeout(30 s), a timer nothing stops, and a Durable Object with
// a timer pending is neither hibernated nor evicted (Cloudflare's lifecycle: hibernation needs no
// setTimeout/setInterval callback scheduled; duration is billed while the object is in memory). So every
// renewer stayed in memory at least 30 s after its last CA request — in local workerd with its SQLite
// database open, and a tick of ~4,000 renewals ran out of SQLite memory (workerd caps SQLite's heap at
// 512 MiB a process). workerd evicts an idle object 10 s after its last request ends; the test watches
// the renewers' database files (persisted to disk) close.
const RENEWALS = 12;
const downCa = { directoryUrl: "https://ca.eviction.test/directory" } as unknown as PebbleInstance;
let worker: WorkerInstance;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgecert-eviction-"));
  // No CA: each renewal sends its directory request, gets a 404 and records the failure.
  worker = await startWorker(downCa, { port: 0, persistTo: dir, outbound: () => new Response("no CA here", { status: 404 }) });
});
afterAll(async () => {
  await worker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Renewer objects' databases workerd holds open (each object's own file, named by its id; not the class's metadata.sqlite). */
const openRenewers = () => new Set(openFilesUnder("workerd", dir).filter((p) => /CertificateRenewer\/[0-9a-f]{64}\.sqlite$/.test(p))).size;

describe("renewer objects after a renewal", () => {
  it(`${RENEWALS} renewers that have finished leave memory within 25 s (none keeps a timer pending)`, { timeout: 90_000 }, async () => {
    const index = await worker.index();
    const now = Date.now();
    await index.upsertMany(Array.from({ length: RENEWALS }, (_, i) => ({ id: `ev-${i}`, names: [`ev-${i}.example.test`], dueAt: now - 1_000, status: "valid", failures: 0, updatedAt: now })));
    await worker.cron(now);
    const done = Date.now();
    expect((await index.lastTick())?.outcomes).toEqual({ failed: RENEWALS });
    // Idle for less than 10 s: renewers are still in memory (this is what the count can see) — all 12
    // unless a loaded machine took 10 s from the first one's end to here, which evicts that one already.
    let open = openRenewers();
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThanOrEqual(RENEWALS);
    while (open > 0 && Date.now() - done < 25_000) {
      await new Promise((r) => setTimeout(r, 500));
      open = openRenewers();
    }
    console.log(`renewers still in memory ${((Date.now() - done) / 1000).toFixed(1)} s after the tick: ${open} of ${RENEWALS}`);
    expect(open).toBe(0);
  });
});
