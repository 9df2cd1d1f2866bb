/**
 * Finds the Deno and Bun binaries the `deno` and `bun` devDependencies installed, and runs scripts
 * with them under a time limit.
 *
 * Both npm packages carry the real binary in a platform package (`@deno/<platform>`,
 * `@oven/bun-<platform>`); their postinstall scripts only link it into place. npm 11 still runs those
 * scripts but warns that they are "not covered by allowScripts"; when scripts do not run
 * (`--ignore-scripts`, a future npm default), `node_modules/.bin/deno` still works (its JS shim finds
 * the platform binary) but `node_modules/.bin/bun` is a stub that exits 1 — so the platform package's
 * binary is the fallback.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** The binary for `name` that answers `--version`, or an error saying what was tried. */
export function findRuntime(name: "deno" | "bun"): { path: string; version: string } | { error: string } {
  const candidates = [join(root, "node_modules", ".bin", name)];
  const scope = join(root, "node_modules", name === "deno" ? "@deno" : "@oven");
  if (existsSync(scope)) {
    for (const dir of readdirSync(scope)) {
      if (!dir.includes(process.platform === "win32" ? "win" : process.platform)) continue;
      candidates.push(join(scope, dir, name === "deno" ? "deno" : join("bin", "bun")));
    }
  }
  const tried: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      tried.push(`${path}: missing`);
      continue;
    }
    const run = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 15_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } });
    if (run.status === 0) return { path, version: run.stdout.trim().split("\n")[0] ?? "" };
    tried.push(`${path}: exit ${run.status} ${(run.stderr || String(run.error ?? "")).trim().split("\n")[0]}`);
  }
  return { error: `no runnable ${name} binary (install devDependencies with npm ci):\n  ${tried.join("\n  ")}` };
}

/** Output of a finished script run. */
export interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The JSON report lines the smoke scripts print. */
  reports: Array<Record<string, unknown>>;
  timedOut: boolean;
}

/** Spawns `binary args…` in the project root (offline switches set) and collects its output. */
function spawnInRoot(binary: string, args: string[], env: Record<string, string>) {
  const child = spawn(binary, args, {
    cwd: root,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out.stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out.stderr += c));
  return { child, out };
}

/** Runs `binary args…` in the project root, killing it after `timeoutMs`. */
export function runScript(binary: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const { child, out } = spawnInRoot(binary, args, env);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const reports = out.stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>;
          } catch {
            return {};
          }
        })
        .filter((r) => r.edgecert === "runtime-smoke");
      resolve({ code, signal, stdout: out.stdout, stderr: out.stderr, reports, timedOut });
    });
  });
}

/** A long-running child (an example server) whose output can be waited on. */
export interface RunningProcess {
  /** Resolves with the first match of `pattern` in stdout, or rejects after `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Everything printed so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code once it exited. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts `binary args…` in the project root. */
export function startProcess(binary: string, args: string[], env: Record<string, string>): RunningProcess {
  const { child, out } = spawnInRoot(binary, args, env);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve((exitCode = code))));
  const output = () => `--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`;
  return {
    output,
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const match = out.stdout.match(pattern);
        if (match) return match;
        if (exitCode !== undefined) throw new Error(`exited with ${exitCode} before printing ${pattern}\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`no ${pattern} within ${timeoutMs} ms\n${output()}`);
    },
    async stop(graceMs = 3_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
