/**
 * A consumer project as a user would have it after `npm install edgecert`: our packed tarball unpacked
 * into `node_modules/edgecert`, our runtime dependencies beside it, and no Hono (the root entry must not
 * need it). Everything else is linked from this repository's `node_modules`, so building it needs no
 * network and one install serves every TypeScript run of the matrix.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { inject } from "vitest";
import { runDirectory } from "../support/test-run.ts";

/** This repository's root. */
export const repoRoot = join(import.meta.dirname, "..", "..");

/** Runs a command; never rejects (the caller asserts on the result). */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, out: `${stdout}${stderr}`, stdout }),
    );
  });
}

/** The packages `name` needs at run time, itself included, from package-lock.json. */
export function dependencyClosure(names: string[]): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dependencies?: Record<string, string> }>;
  };
  const seen = new Set<string>();
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry) throw new Error(`${name} is not in package-lock.json`);
    seen.add(name);
    queue.push(...Object.keys(entry.dependencies ?? {}));
  }
  return [...seen].sort();
}

/** Links `repoRoot/node_modules/<name>` at `dir/node_modules/<name>`. */
export function linkPackage(dir: string, name: string, from = name): void {
  const target = join(dir, "node_modules", name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(repoRoot, "node_modules", from), target, "dir");
}

/** What `npm pack --json` reports about the tarball. */
export interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

/**
 * Packs this repository the way `npm publish` would (running `prepack`, so `dist/` is built fresh) —
 * once per test run, whichever file asks first (see {@link packOnce}) — and unpacks the tarball into
 * `dir/node_modules/edgecert` next to its runtime dependencies.
 */
export async function createConsumerProject(dir: string): Promise<PackResult> {
  const { tarball, result } = await packOnce();
  const unpacked = join(dir, "node_modules", "edgecert");
  mkdirSync(unpacked, { recursive: true });
  const untar = await run("tar", ["-xzf", tarball, "-C", unpacked, "--strip-components=1"], { cwd: dir });
  if (untar.code !== 0) throw new Error(`tar failed:\n${untar.out}`);
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const name of dependencyClosure(Object.keys(pkg.dependencies))) linkPackage(dir, name);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "edgecert-consumer", private: true, type: "module", dependencies: { edgecert: "*" } }, null, 2),
  );
  return result;
}

/**
 * The tarball of this run (test/support/test-run.ts): the first file to ask packs it, under a lock
 * (a directory made atomically); the others wait for it. The consumer matrix and the packed CLI test
 * each packed their own: `dist/` built twice (6 s of CPU each), and at once, each build removing the
 * other's `dist/` midway.
 */
async function packOnce(): Promise<{ tarball: string; result: PackResult }> {
  const root = join(runDirectory(inject("testRunId")), "packed");
  const done = join(root, "pack.json");
  const lock = `${root}.lock`;
  mkdirSync(dirname(root), { recursive: true });
  // Bounded: a pack takes up to its 300 s timeout; one more minute for the waiting.
  for (const until = Date.now() + 360_000; Date.now() < until; ) {
    if (existsSync(done)) return JSON.parse(readFileSync(done, "utf8")) as { tarball: string; result: PackResult };
    try {
      mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      mkdirSync(root, { recursive: true });
      const packed = await run("npm", ["pack", "--json", "--pack-destination", root], { cwd: repoRoot, timeoutMs: 300_000 });
      if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.out}`);
      const json = packed.stdout.slice(packed.stdout.indexOf("[\n"));
      const [result] = JSON.parse(json) as PackResult[];
      if (!result) throw new Error(`npm pack printed no result:\n${packed.out}`);
      const answer = { tarball: join(root, result.filename), result };
      writeFileSync(`${done}.part`, JSON.stringify(answer));
      renameSync(`${done}.part`, done);
      return answer;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  throw new Error(`waited 360 s for another test file to pack the tarball (${lock})`);
}
