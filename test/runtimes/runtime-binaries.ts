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

/** Runs `binary args…` in the project root, killing it after `timeoutMs`. */
export function runScript(binary: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, {
      cwd: root,
      env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const reports = stdout
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
      resolve({ code, signal, stdout, stderr, reports, timedOut });
    });
  });
}
