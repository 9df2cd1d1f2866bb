// CPU and resident memory of the server processes a bench started (workerd, redis-server, postgres),
// read from Linux /proc: the descendants of this process whose command name is `comm`.
import { readdirSync, readFileSync } from "node:fs";
import { descendantProcesses as descendants } from "../test/support/process-tree.ts";

/** CPU seconds (user + system) used so far by this process's descendants named `comm`. */
export function serverCpuSeconds(comm: string): number {
  return descendants(comm).reduce((sum, p) => sum + p.cpuTicks, 0) / 100; // USER_HZ
}

/** Resident memory (VmRSS, bytes) of this process's descendants named `comm`, summed. */
export function serverRssBytes(comm: string): number {
  let kb = 0;
  for (const p of descendants(comm)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // Ended meanwhile.
    }
  }
  return kb * 1024;
}

/**
 * CPU time (ns) used so far by this process's descendants named `comm`, every thread, from the
 * scheduler's own accounting (/proc/PID/task/TID/schedstat): nanosecond resolution, where
 * serverCpuSeconds counts 10 ms ticks.
 */
export function serverCpuNs(comm: string): number {
  let ns = 0;
  for (const p of descendants(comm)) {
    try {
      for (const tid of readdirSync(`/proc/${p.pid}/task`)) ns += Number(readFileSync(`/proc/${p.pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // Ended meanwhile.
    }
  }
  return ns;
}

/** Process ids of this process's descendants named `comm`. */
export function serverPids(comm: string): number[] {
  return descendants(comm).map((p) => p.pid);
}
