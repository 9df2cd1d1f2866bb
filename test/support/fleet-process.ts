/**
 * Spawns and talks to test/fleet/fleet-child.ts instances (Node through tsx, the bun binary, or the
 * deno binary): one JSON line per command on stdin, one JSON line per result on stdout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { denoBinary } from "./deno-kv-process.ts";
import { findRuntime } from "../runtimes/runtime-binaries.ts";

const root = join(import.meta.dirname, "..", "..");
const script = join(root, "test", "fleet", "fleet-child.ts");

/** A message a child printed. */
export type ChildMessage = Record<string, unknown> & { pid: number };

/** One running fleet instance. */
export interface FleetProcess {
  readonly pid: number;
  /** Sends `manage(names)` for round `round`. */
  manage(round: number, names: string[]): void;
  /** Sends any command fleet-child.ts reads (`{ round, op, names, stopAtSend }`). */
  send(command: { round: number; op?: "manage" | "renewDue" | "revoke" | "lapse"; names?: string[]; stopAtSend?: boolean }): void;
  /** Whether the process is stopped (SIGSTOP), from its state in /proc. */
  stopped(): boolean;
  /** Sends `signal` without waiting for anything. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the first message (from now on or already seen) that `match` accepts. */
  waitFor(match: (m: ChildMessage) => boolean, timeoutMs: number): Promise<ChildMessage>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** How many POSTs to a path starting with `path` this process reported the CA answered. */
  posts(path: string): number;
  output(): string;
  /** Every message it printed so far. */
  messages(): readonly ChildMessage[];
}

export interface FleetChildConfig {
  backend: "redis" | "postgres" | "denokv";
  url?: string;
  kvPath?: string;
  namespace: string;
  directoryUrl: string;
  lockTtlMs: number;
}

/** Starts a child and waits until its storage is connected. `caFile` is the PEM the ACME endpoint is trusted by. */
export async function startFleetProcess(config: FleetChildConfig, caFile: string, runtime: "node" | "bun" = "node"): Promise<FleetProcess> {
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: caFile, DENO_CERT: caFile, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
  let child: ChildProcess;
  if (config.backend === "denokv") {
    const deno = denoBinary();
    if (!deno) throw new Error("no deno binary");
    child = spawn(deno, ["run", "--unstable-kv", "-A", script, JSON.stringify(config)], { cwd: root, env, stdio: ["pipe", "pipe", "pipe"] });
  } else if (runtime === "bun") {
    const bun = findRuntime("bun");
    if ("error" in bun) throw new Error(bun.error);
    child = spawn(bun.path, ["run", script, JSON.stringify(config)], { cwd: root, env, stdio: ["pipe", "pipe", "pipe"] });
  } else {
    child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], { cwd: root, env, stdio: ["pipe", "pipe", "pipe"] });
  }
  const messages: ChildMessage[] = [];
  const waiters = new Set<() => void>();
  let stdout = "";
  let stderr = "";
  let buffered = "";
  let exited = false;
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith("{")) continue;
      try {
        messages.push(JSON.parse(line) as ChildMessage);
      } catch {
        continue;
      }
      for (const wake of waiters) wake();
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      for (const wake of waiters) wake();
      resolve();
    }),
  );
  const output = () => `--- stdout\n${stdout.slice(-4000)}\n--- stderr\n${stderr.slice(-4000)}`;
  const proc: FleetProcess = {
    pid: child.pid!,
    manage(round, names) {
      child.stdin!.write(`${JSON.stringify({ round, names })}\n`);
    },
    send(command) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
    },
    stopped() {
      try {
        // /proc/<pid>/stat: "pid (comm) S ...": the state follows the last ')'.
        const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "T";
      } catch {
        return false;
      }
    },
    signal(signal) {
      if (!exited) child.kill(signal);
    },
    waitFor(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(match);
          if (found) return finish(() => resolve(found));
          if (exited) return finish(() => reject(new Error(`child ${child.pid} exited before the awaited message\n${output()}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`child ${child.pid}: no awaited message within ${timeoutMs} ms\n${output()}`))), timeoutMs);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
    async kill(signal = "SIGKILL") {
      if (!exited) {
        child.kill(signal);
        await exit;
      }
    },
    output,
    messages: () => messages,
    posts: (path) => messages.filter((m) => typeof m.request === "string" && m.request.startsWith(path)).length,
  };
  await proc.waitFor((m) => m.ready === true, 60_000);
  return proc;
}
