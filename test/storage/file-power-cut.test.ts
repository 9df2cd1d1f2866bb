import { mkdir, mkdtemp, open, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStorage } from "../../src/storage/file.ts";
import { routeFileSystemCalls, type FileSystemCalls } from "../../src/storage/file-io.ts";
import { keyPath } from "../../src/storage/file-names.ts";

// Issue 11 point 9: "the FileStorage directory is not fsynced after a rename". A power cut keeps only
// what reached the disk; a write FileStorage reported done must survive it, and no record may come
// back torn. This test runs a workload on a real FileStorage while recording every file-system call
// it makes (through the internal seam in file-io.ts), then replays the calls onto a model disk and cuts
// the power after every prefix of them. At each cut it rebuilds what a disk could hold and checks:
// every acknowledged put is there with its value (or the value of the one write to that key still in
// flight), every acknowledged delete stays deleted, no key holds bytes no write gave it, and a fresh
// FileStorage over that disk reads exactly this.
//
// Two disks (POSIX promises no more than the first):
// - "only what was fsynced": a file's bytes as of its last fsync, a directory's entries as of its
//   last fsync — an unflushed rename, create, unlink or mkdir is lost.
// - "names ahead of data": every directory change reached the disk but file bytes only as far as
//   they were fsynced (ext4 data=writeback, delayed allocation): catches a rename of unflushed data.

type Event =
  | { op: "mkdir"; path: string }
  | { op: "open"; handle: number; path: string; flags: string }
  | { op: "write"; handle: number; bytes: Uint8Array }
  | { op: "fsync"; handle: number }
  | { op: "rename"; from: string; to: string }
  | { op: "unlink"; path: string };

/** One storage operation of the workload: what it writes, and where in the recording it began and ended. */
interface Write {
  key: string;
  /** undefined: a delete. */
  value: string | undefined;
  /** Number of file-system events recorded when it was called, and when it resolved (undefined: never, or it was refused). */
  began: number;
  acked?: number;
  refused?: boolean;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgecert-power-cut-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The calls of node:fs/promises, recorded (paths relative to `base`) once each completes. */
function recorder(base: string, events: Event[]): FileSystemCalls {
  let handles = 0;
  const rel = (p: unknown) => relative(base, String(p));
  const calls = {
    async mkdir(path: string, options: { recursive: true; mode: number }) {
      const created = await mkdir(path, options);
      events.push({ op: "mkdir", path: rel(path) });
      return created;
    },
    async open(path: string, flags: string, mode?: number) {
      const handle = await open(path, flags, mode);
      const id = ++handles;
      events.push({ op: "open", handle: id, path: rel(path), flags });
      return new Proxy(handle, {
        get(target, prop) {
          if (prop === "writeFile") {
            return async (data: Uint8Array) => {
              await target.writeFile(data);
              events.push({ op: "write", handle: id, bytes: new Uint8Array(data) });
            };
          }
          if (prop === "sync") {
            return async () => {
              await target.sync();
              events.push({ op: "fsync", handle: id });
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
    readFile,
    async rename(from: string, to: string) {
      await rename(from, to);
      events.push({ op: "rename", from: rel(from), to: rel(to) });
    },
    async unlink(path: string) {
      await unlink(path);
      events.push({ op: "unlink", path: rel(path) });
    },
  };
  return calls as unknown as FileSystemCalls;
}

/** The workload: overwrites, new nested directories, concurrent puts (two racing to create one directory), conditional writes, a fenced write, deletes. */
async function workload(storage: FileStorage, events: Event[]): Promise<Write[]> {
  const writes: Write[] = [];
  let n = 0;
  const value = (key: string) => JSON.stringify({ key, n: ++n, pad: "x".repeat(200 + n) });
  const put = async (key: string, v = value(key), when?: Parameters<FileStorage["put"]>[2]) => {
    const w: Write = { key, value: v, began: events.length };
    writes.push(w);
    try {
      await storage.put(key, v, when);
      w.acked = events.length;
    } catch (err) {
      w.refused = true;
      if (!(err instanceof Error && /refused|conflict/i.test(err.message))) throw err;
    }
  };
  const del = async (key: string) => {
    const w: Write = { key, value: undefined, began: events.length };
    writes.push(w);
    await storage.delete(key);
    w.acked = events.length;
  };

  await put("top");
  await put("certificates/a.json");
  await put("certificates/a.json");
  await put("names/deep/er/b");
  await Promise.all([put("certificates/c.json"), put("orders/x.json"), put("orders/y.json"), put("top")]);
  const entry = await storage.getEntry("certificates/a.json");
  await put("certificates/a.json", value("certificates/a.json"), { ifVersion: entry!.version });
  // Refused: the version it names is gone. It must leave no trace.
  await put("certificates/a.json", value("certificates/a.json"), { ifVersion: entry!.version });
  await put("certificates/new.json", value("certificates/new.json"), { ifVersion: null });
  const lease = await storage.lock("certificates/c");
  await put("certificates/c.json", value("certificates/c.json"), { fence: lease });
  await lease.release();
  await del("orders/x.json");
  await Promise.all([del("certificates/new.json"), put("names/deep/er/b"), put("fresh/one"), put("fresh/two")]);
  await put("orders/x.json");
  await del("top");
  return writes;
}

interface Node {
  dir: boolean;
  data: Uint8Array;
  durableData: Uint8Array;
  entries: Map<string, Node>;
  durableEntries: Map<string, Node>;
}

const newNode = (dir: boolean): Node => ({ dir, data: new Uint8Array(), durableData: new Uint8Array(), entries: new Map(), durableEntries: new Map() });

/** The model disk after `events`: each node's live and flushed state. */
function replay(events: readonly Event[], count: number): Node {
  const top = newNode(true);
  const handles = new Map<number, Node>();
  const split = (path: string) => path.split("/").filter((s) => s !== "");
  const parentOf = (path: string): { parent: Node; name: string } => {
    const parts = split(path);
    const name = parts.pop()!;
    let node = top;
    for (const p of parts) {
      const next = node.entries.get(p);
      if (!next?.dir) throw new Error(`model: no directory ${p} on the way to ${path}`);
      node = next;
    }
    return { parent: node, name };
  };
  const lookup = (path: string): Node => {
    if (split(path).length === 0) return top;
    const { parent, name } = parentOf(path);
    const node = parent.entries.get(name);
    if (!node) throw new Error(`model: no ${path}`);
    return node;
  };
  for (const e of events.slice(0, count)) {
    switch (e.op) {
      case "mkdir": {
        let node = top;
        for (const p of split(e.path)) {
          let next = node.entries.get(p);
          if (!next) node.entries.set(p, (next = newNode(true)));
          node = next;
        }
        break;
      }
      case "open": {
        if (e.flags.includes("w")) {
          const { parent, name } = parentOf(e.path);
          const file = newNode(false);
          parent.entries.set(name, file);
          handles.set(e.handle, file);
        } else {
          handles.set(e.handle, lookup(e.path));
        }
        break;
      }
      case "write":
        handles.get(e.handle)!.data = e.bytes;
        break;
      case "fsync": {
        const node = handles.get(e.handle)!;
        if (node.dir) node.durableEntries = new Map(node.entries);
        else node.durableData = node.data;
        break;
      }
      case "rename": {
        const from = parentOf(e.from);
        const node = from.parent.entries.get(from.name)!;
        from.parent.entries.delete(from.name);
        const to = parentOf(e.to);
        to.parent.entries.set(to.name, node);
        break;
      }
      case "unlink": {
        const { parent, name } = parentOf(e.path);
        parent.entries.delete(name);
        break;
      }
    }
  }
  return top;
}

type Disk = "only what was fsynced" | "names ahead of data";

/** The files a disk holds after the cut (path relative to the model's top -> bytes). */
function survivors(top: Node, disk: Disk): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (node: Node, path: string) => {
    const entries = disk === "only what was fsynced" ? node.durableEntries : node.entries;
    for (const [name, child] of entries) {
      const p = path ? `${path}/${name}` : name;
      if (child.dir) walk(child, p);
      else out.set(p, child.durableData);
    }
  };
  walk(top, "");
  return out;
}

/** What key `key` may hold after a cut after `cut` events: its last acknowledged value, or the one in flight. */
function allowed(writes: readonly Write[], key: string, cut: number): Set<string | undefined> {
  let last: string | undefined;
  const ok = new Set<string | undefined>();
  for (const w of writes) {
    if (w.key !== key || w.began > cut) continue;
    if (w.acked !== undefined && w.acked <= cut) last = w.value;
    else if (!w.refused) ok.add(w.value);
  }
  ok.add(last);
  return ok;
}

describe("FileStorage across a power cut", () => {
  it("keeps every acknowledged write, and no torn record, at every cut point", async () => {
    const events: Event[] = [];
    const storageDir = join(root, "store");
    const restore = routeFileSystemCalls(recorder(root, events));
    let writes: Write[];
    try {
      writes = await workload(new FileStorage({ dir: storageDir }), events);
    } finally {
      restore();
    }
    const keys = [...new Set(writes.map((w) => w.key))];
    const pathOf = (key: string) => {
      const { dirs, file } = keyPath(key);
      return ["store", ...dirs, file].join("/");
    };

    const failures: string[] = [];
    let states = 0;
    let ackedChecked = 0;
    const disks: Disk[] = ["only what was fsynced", "names ahead of data"];
    for (let cut = 0; cut <= events.length; cut++) {
      const model = replay(events, cut);
      for (const disk of disks) {
        states++;
        const files = survivors(model, disk);
        const seen = new Map<string, string | undefined>();
        for (const key of keys) {
          const bytes = files.get(pathOf(key));
          const held = bytes === undefined ? undefined : new TextDecoder().decode(bytes);
          seen.set(key, held);
          const ok = allowed(writes, key, cut);
          if (writes.some((w) => w.key === key && w.acked !== undefined && w.acked <= cut)) ackedChecked++;
          if (!ok.has(held)) {
            const what = held === undefined ? "missing" : held === "" ? "empty (torn)" : `holding ${held.slice(0, 40)}…`;
            failures.push(`cut after event ${cut}/${events.length} (${disk}): ${key} is ${what}; allowed ${[...ok].map((v) => (v === undefined ? "absent" : v.slice(0, 24) + "…")).join(" | ")}`);
          }
        }
        // A fresh FileStorage over that disk reads the same (every 4th cut: it writes a directory tree).
        if (cut % 4 === 0 || cut === events.length) {
          const dir = join(root, `cut-${cut}-${disk === disks[0] ? "a" : "b"}`);
          for (const [p, bytes] of files) {
            if (!p.startsWith("store/")) continue;
            await mkdir(join(dir, ...p.split("/").slice(1, -1)), { recursive: true });
            await writeFile(join(dir, ...p.split("/").slice(1)), bytes);
          }
          await mkdir(dir, { recursive: true });
          const fresh = new FileStorage({ dir });
          const listed = (await fresh.list("")).keys;
          const expected = keys.filter((k) => seen.get(k) !== undefined).sort();
          if (JSON.stringify([...listed].sort()) !== JSON.stringify(expected)) failures.push(`cut ${cut} (${disk}): list() ${JSON.stringify(listed)}, expected ${JSON.stringify(expected)}`);
          for (const k of expected) {
            const got = await fresh.get(k);
            if (new TextDecoder().decode(got) !== seen.get(k)) failures.push(`cut ${cut} (${disk}): get(${k}) differs from the disk`);
          }
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
    const acked = writes.filter((w) => w.acked !== undefined).length;
    console.log(
      `power cut: ${events.length} file-system calls recorded for ${writes.length} writes (${acked} acknowledged, ${writes.filter((w) => w.refused).length} refused); ` +
        `${events.length + 1} cut points x ${disks.length} disks = ${states} disk states, ${ackedChecked} acknowledged-key checks, ${failures.length} failures`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(acked).toBeGreaterThan(15);
  });
});
