import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { buildDist } from "../scripts/build.ts";
import { median } from "./measure.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** What a fresh process pays before doing anything: the published dist/ as an application loads it. */
export interface ColdStart {
  runs: number;
  /** `await import(entry)` timed inside a fresh Node process (so: over bare Node), median, by export. */
  importMs: Record<string, number>;
  /** The CPU time of that import (user + system), median: what a loaded machine's scheduling cannot inflate much. */
  importCpuMs: Record<string, number>;
  /** Wall time of bare `node -e 0`, median. */
  bareNodeMs: number;
  /** The CLI's `renew` with nothing due (one certificate, issued just before), wall and CPU, median. */
  renewNoop: { wallMs: number; cpuMs: number; exitCode: number | null };
}

/** GNU time's wall and CPU for one command. */
function timed(args: string[], env: NodeJS.ProcessEnv = process.env): { wallMs: number; cpuMs: number; code: number | null; stderr: string } {
  const run = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S", ...args], { env, encoding: "utf8" });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(run.stderr);
  return { wallMs: m ? Number(m[1]) * 1000 : NaN, cpuMs: m ? (Number(m[2]) + Number(m[3])) * 1000 : NaN, code: run.status, stderr: run.stderr };
}

/**
 * Builds dist/ (`npm run build`) and measures it cold: import time per entry, and the CLI's no-op
 * renew against `pebble` (one certificate issued first with the standalone http-01 server).
 */
export async function coldStart(pebble: PebbleInstance, runs: number): Promise<ColdStart> {
  await buildDist();
  const entries = { edgecert: "dist/index.js", "edgecert/acme": "dist/acme/index.js", "edgecert/manager": "dist/manager/index.js" };
  const importMs: Record<string, number> = {};
  const importCpuMs: Record<string, number> = {};
  for (const [name, file] of Object.entries(entries)) {
    const url = pathToFileURL(join(root, file)).href;
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < runs; r++) {
      const script = `const u = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(url)}); const c = process.cpuUsage(u); process.stdout.write(JSON.stringify([performance.now() - t, (c.user + c.system) / 1000]));`;
      const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
      const [ms, cpuMs] = JSON.parse(run.stdout) as [number, number];
      wall.push(ms);
      cpu.push(cpuMs);
    }
    importMs[name] = Math.round(median(wall) * 10) / 10;
    importCpuMs[name] = Math.round(median(cpu) * 10) / 10;
  }
  const bare: number[] = [];
  for (let r = 0; r < runs; r++) bare.push(timed([process.execPath, "-e", "0"]).wallMs);

  const dir = mkdtempSync(join(tmpdir(), "edgecert-cold-"));
  try {
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, pebble.caPem);
    const cli = [process.execPath, join(root, "dist", "cli", "main.js")];
    const flags = ["--dir", join(dir, "state"), "--server", pebble.directoryUrl, "--ca-file", caFile];
    const issue = spawnSync(cli[0]!, [cli[1]!, "issue", "-d", `cold-${Date.now()}.example.test`, "--agree-tos", "--http", "--http-port", String(pebble.httpPort), "--http-address", "127.0.0.1", ...flags, "-q"], { encoding: "utf8" });
    if (issue.status !== 0) throw new Error(`edgecert issue failed (exit ${issue.status}): ${issue.stderr.slice(-500)}`);
    const renews = Array.from({ length: runs }, () => timed([...cli, "renew", ...flags, "-q"]));
    return {
      runs,
      importMs,
      importCpuMs,
      bareNodeMs: Math.round(median(bare)),
      renewNoop: { wallMs: Math.round(median(renews.map((r) => r.wallMs))), cpuMs: Math.round(median(renews.map((r) => r.cpuMs))), exitCode: renews[0]!.code },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
