import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStorageConformance } from "../storage/conformance.ts";
import { runRenewDueIndexTests } from "./renew-due-index.ts";
import { runFleetQueueTests } from "../budget/fleet-queue-backends.ts";
import { expectNoReuseAfterDataLoss } from "./data-loss.ts";
import { copyFile, readdir } from "node:fs/promises";
import { denoBinary, startDenoKv, type DenoKvProcess } from "../support/deno-kv-process.ts";

const deno = denoBinary();
if (!deno) console.warn("SKIPPED: no deno binary — DenoKvStorage tests did not run (npm ci installs it)");

describe.skipIf(!deno && !process.env.CI)("DenoKvStorage in the deno binary (--unstable-kv, local SQLite)", () => {
  let dir: string;
  let a: DenoKvProcess;
  let b: DenoKvProcess;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "edgecert-denokv-"));
    // Two deno processes on one SQLite file: what several local instances sharing Deno KV look like.
    [a, b] = await Promise.all([startDenoKv(join(dir, "kv.sqlite3")), startDenoKv(join(dir, "kv.sqlite3"))]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  runStorageConformance("DenoKvStorage", () => a.storage);
  runRenewDueIndexTests("DenoKvStorage", async () => {
    const kv = await startDenoKv(join(dir, "kv.sqlite3"), `renew-${crypto.randomUUID().slice(0, 8)}`);
    return { storage: kv.storage, close: () => kv.stop() };
  });

  // The CA budget's fleet queue: its processes' clients alternate between the two deno processes.
  runFleetQueueTests("DenoKvStorage", async () => ({ clients: (n) => Array.from({ length: n }, (_, i) => (i % 2 ? b : a).storage), ca: `queue-${crypto.randomUUID().slice(0, 8)}` }));

  it("two deno processes on one store: values, versions and fencing agree", async () => {
    await a.storage.put("shared/k", Uint8Array.of(0, 1, 255));
    expect(await b.storage.get("shared/k")).toEqual(Uint8Array.of(0, 1, 255));
    expect((await b.storage.getEntry("shared/k"))?.version).toBe((await a.storage.getEntry("shared/k"))?.version);
    // Live for the two checks that need it however loaded the machine (a 2 s lease could lapse before
    // them); then it lapses explicitly (renewed for 1 ms), as its TTL would, and b takes it over.
    const lease = await a.storage.lock("shared/lock", { ttlMs: 60_000 });
    await expect(b.storage.lock("shared/lock", { waitMs: 0 })).rejects.toMatchObject({ code: "storage" });
    await b.storage.put("shared/k", "fenced", { fence: lease });
    await lease.renew(1);
    const next = await b.storage.lock("shared/lock", { ttlMs: 10_000, waitMs: 30_000 });
    expect(next.token).toBeGreaterThan(lease.token);
    await expect(a.storage.put("shared/k", "stale", { fence: lease })).rejects.toMatchObject({ code: "lease_lost" });
    expect(new TextDecoder().decode(await a.storage.get("shared/k"))).toBe("fenced");
    await next.release();
  });

  it("never reuses a version or a fencing token after an older copy of the store is restored", async () => {
    const store = join(dir, "restore");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(store);
    await mkdir(`${store}.backup`);
    let kv = await startDenoKv(join(store, "kv.sqlite3"));
    // The SQLite file with its -wal/-shm companions, copied while no process has it open.
    const copyStore = async (from: string, to: string) => {
      await kv.stop();
      for (const f of await readdir(to)) await rm(join(to, f));
      for (const f of await readdir(from)) await copyFile(join(from, f), join(to, f));
      kv = await startDenoKv(join(store, "kv.sqlite3"));
    };
    try {
      await expectNoReuseAfterDataLoss(() => kv.storage, { takeBackup: () => copyStore(store, `${store}.backup`), restoreBackup: () => copyStore(`${store}.backup`, store) }, "restore");
    } finally {
      await kv.stop();
    }
  });

  it("values over Deno KV's 64 KiB limit are chunked and replaced whole", async () => {
    const big = new Uint8Array(200_000).map((_, i) => i % 251);
    await a.storage.put("big/v", big);
    expect(await b.storage.get("big/v")).toEqual(big);
    const other = new Uint8Array(130_000).fill(7);
    await b.storage.put("big/v", other);
    expect(await a.storage.get("big/v")).toEqual(other);
    await a.storage.put("big/v", "small again");
    expect(new TextDecoder().decode(await b.storage.get("big/v"))).toBe("small again");
  });
});
