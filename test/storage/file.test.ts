import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStorage } from "../../src/storage/file.ts";
import { runStorageConformance, expectCode } from "./conformance.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgecert-file-storage-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const fresh = () => new FileStorage({ dir: join(root, `s${n++}`) });

runStorageConformance("FileStorage", fresh);

describe("FileStorage on disk", () => {
  it("lays keys out as files (directories marked ~), mode 0600 files and 0700 directories, no temp files left", async () => {
    const s = fresh();
    await s.put("certs/example.com/cert.json", "{}");
    await s.put("certs/*.example.com/key", "k");
    await s.put("certs", "leaf next to its directory");
    expect((await readdir(s.dir)).sort()).toEqual(["certs", "certs~"]);
    expect((await readdir(join(s.dir, "certs~"))).sort()).toEqual(["%2A.example.com~", "example.com~"]);
    expect(await readFile(join(s.dir, "certs~", "example.com~", "cert.json"), "utf8")).toBe("{}");
    expect((await stat(join(s.dir, "certs~", "example.com~", "cert.json"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(s.dir, "certs~", "example.com~"))).mode & 0o777).toBe(0o700);
    expect((await stat(s.dir)).mode & 0o777).toBe(0o700);
    const lease = await s.lock("certs/example.com");
    const lockDir = join(s.dir, ".locks", "certs%2Fexample.com");
    expect(await readdir(lockDir)).toEqual(["1.lease"]);
    const record = JSON.parse(await readFile(join(lockDir, "1.lease"), "utf8")) as Record<string, unknown>;
    expect(record).toMatchObject({ name: "certs/example.com", token: 1, expiresAt: lease.expiresAt });
    expect(typeof record.owner).toBe("string");
    expect((await stat(join(lockDir, "1.lease"))).mode & 0o777).toBe(0o600);
    await lease.release();
    expect((await s.list("")).keys).toEqual(["certs", "certs/*.example.com/key", "certs/example.com/cert.json"]);
  });

  it("ignores files it did not write and in-flight temp files when listing", async () => {
    const s = fresh();
    await s.put("a/b", "x");
    await writeFile(join(s.dir, "a~", ".tmp-123"), "partial");
    await writeFile(join(s.dir, "a~", "has space"), "foreign");
    await mkdir(join(s.dir, "plain-dir"));
    await writeFile(join(s.dir, "plain-dir", "x"), "foreign");
    expect((await s.list("")).keys).toEqual(["a/b"]);
  });

  it("rejects a key segment too long for a file name with invalid_input", async () => {
    const s = fresh();
    await expectCode(s.put(`certs/${"%".repeat(100)}`, "x"), "invalid_input");
    await s.put(`certs/${"a".repeat(254)}`, "fits");
  });

  it("keeps fencing tokens growing across instances (lock state is on disk)", async () => {
    const dir = join(root, `shared${n++}`);
    const a = new FileStorage({ dir });
    const first = await a.lock("job");
    await first.release();
    const second = await new FileStorage({ dir }).lock("job", { waitMs: 0 });
    expect(second.token).toBe(first.token + 1);
    await second.release();
    // Old lease files are cleaned up by the next holder; the newest stays.
    expect(await readdir(join(dir, ".locks", "job"))).toEqual([`${second.token}.lease`]);
  });

  it("lets exactly one of many contenders take over a lapsed lease", async () => {
    const dir = join(root, `race${n++}`);
    const old = await new FileStorage({ dir }).lock("race", { ttlMs: 50 });
    await new Promise((r) => setTimeout(r, 80));
    const contenders = Array.from({ length: 12 }, () => new FileStorage({ dir }).lock("race", { ttlMs: 10_000, waitMs: 0 }));
    const results = await Promise.allSettled(contenders);
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lease = (won[0] as PromiseFulfilledResult<Awaited<(typeof contenders)[number]>>).value;
    expect(lease.token).toBe(old.token + 1);
    await expectCode(old.renew(), "storage");
    await lease.release();
  });

  it("treats an empty (being written) lease file as held, then takes it over after a grace period", async () => {
    const dir = join(root, `partial${n++}`);
    const s = new FileStorage({ dir });
    await mkdir(join(dir, ".locks", "p"), { recursive: true });
    await writeFile(join(dir, ".locks", "p", "1.lease"), "");
    await expectCode(s.lock("p", { waitMs: 0 }), "storage");
    const old = new Date(Date.now() - 60_000);
    const { utimes } = await import("node:fs/promises");
    await utimes(join(dir, ".locks", "p", "1.lease"), old, old);
    const lease = await s.lock("p", { waitMs: 0 });
    expect(lease.token).toBe(2);
    await lease.release();
  });

  it("excludes across processes: 3 processes × 4 locked increments", async () => {
    const dir = join(root, `procs${n++}`);
    const child = join(import.meta.dirname, "file-lock-child.ts");
    const run = promisify(execFile);
    await Promise.all([0, 1, 2].map(() => run(process.execPath, ["--import", "tsx", child, dir, "4"], { timeout: 30_000 })));
    const s = new FileStorage({ dir });
    expect(new TextDecoder().decode(await s.get("counter"))).toBe("12");
    expect(new TextDecoder().decode(await s.get("overlaps"))).toBe("");
  }, 30_000);

  it("compare-and-set across processes: 4 processes × 25 increments of one key by getEntry + put(ifVersion) lose no update", async () => {
    const dir = join(root, `cas${n++}`);
    const child = join(import.meta.dirname, "file-cas-child.ts");
    const run = promisify(execFile);
    const outs = await Promise.all([0, 1, 2, 3].map(() => run(process.execPath, ["--import", "tsx", child, "cas", dir, "25"], { timeout: 120_000 })));
    const conflicts = outs.reduce((sum, o) => sum + Number(o.stdout.trim()), 0);
    const s = new FileStorage({ dir });
    expect(new TextDecoder().decode(await s.get("n"))).toBe("100");
    console.log(`file storage CAS across 4 processes: 100 increments, ${conflicts} conflicts retried`);
  }, 150_000);

  it("a write fenced by a lease that lapsed is refused in another process (lease_lost), and one by the live lease lands", async () => {
    const dir = join(root, `fence${n++}`);
    const child = join(import.meta.dirname, "file-cas-child.ts");
    const run = promisify(execFile);
    const s = new FileStorage({ dir });
    const lease = await s.lock("cert", { ttlMs: 200 });
    await new Promise((r) => setTimeout(r, 400)); // lapsed, nobody took it over
    expect((await run(process.execPath, ["--import", "tsx", child, "fenced", dir, "cert", String(lease.token)])).stdout.trim()).toBe("lease_lost");
    expect(await s.get("fenced")).toBeUndefined();
    const live = await s.lock("cert", { ttlMs: 60_000 });
    expect((await run(process.execPath, ["--import", "tsx", child, "fenced", dir, "cert", String(live.token)])).stdout.trim()).toBe("ok");
    await live.release();
  }, 60_000);

  it("a write mutex left by a process that died is taken over (stale owner), not waited on", async () => {
    const dir = join(root, `mutex${n++}`);
    const s = new FileStorage({ dir });
    await s.put("k", "before");
    const dead = await promisify(execFile)(process.execPath, ["-e", "console.log(process.pid)"]);
    await writeFile(join(dir, ".w-k"), JSON.stringify({ owner: "crashed", pid: Number(dead.stdout.trim()), host: hostname(), at: Date.now() }));
    const entry = (await s.getEntry("k"))!;
    await s.put("k", "after", { ifVersion: entry.version });
    expect(new TextDecoder().decode(await s.get("k"))).toBe("after");
    expect((await readdir(dir)).filter((f) => f.startsWith(".w-"))).toEqual([]);
  });
});
