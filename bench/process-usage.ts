// CPU and resident memory of the server processes a bench started (workerd, redis-server, postgres),
// read from Linux /proc: the descendants of this process whose command name is `comm`.
import { descendantProcesses as descendants } from "../test/support/process-tree.ts";

/** CPU seconds (user + system) used so far by this process's descendants named `comm`. */
export function serverCpuSeconds(comm: string): number {
  return descendants(comm).reduce((sum, p) => sum + p.cpuTicks, 0) / 100; // USER_HZ
}

/** Resident memory (VmRSS, bytes) of this process's descendants named `comm` (test/support/process-tree.ts). */
export { rssBytes as serverRssBytes } from "../test/support/process-tree.ts";

/** CPU time (ns) of this process's descendants named `comm` (test/support/process-tree.ts). */
export { cpuNs as serverCpuNs } from "../test/support/process-tree.ts";
