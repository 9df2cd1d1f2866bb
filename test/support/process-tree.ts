// This process's descendants as Linux /proc shows them: the servers a test or bench started (workerd,
// redis-server, postgres), their CPU and the files they hold open.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** A process as /proc/PID/stat shows it. */
export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  /** User + system CPU in clock ticks (USER_HZ, 100 a second). */
  cpuTicks: number;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^[0-9]+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({ pid: Number(pid), ppid: Number(fields[1]), comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), cpuTicks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** This process's descendants named `comm`. */
export function descendantProcesses(comm: string): Proc[] {
  const all = processes();
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (!mine.has(p.pid) && mine.has(p.ppid)) (mine.add(p.pid), (grew = true));
  }
  return all.filter((p) => p.comm === comm && mine.has(p.pid));
}

/** Paths under `dir` that this process's descendants named `comm` hold open (each open file once per descriptor). */
export function openFilesUnder(comm: string, dir: string): string[] {
  const open: string[] = [];
  for (const p of descendantProcesses(comm)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      continue; // Ended meanwhile.
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${p.pid}/fd/${fd}`);
        if (target.startsWith(dir)) open.push(target);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return open;
}

/**
 * CPU time (ns) used so far by this process's descendants named `comm`, every thread, from the
 * scheduler's own accounting (/proc/PID/task/TID/schedstat): nanoseconds, where /proc/PID/stat counts
 * 10 ms ticks.
 */
export function cpuNs(comm: string): number {
  let ns = 0;
  for (const p of descendantProcesses(comm)) {
    try {
      for (const tid of readdirSync(`/proc/${p.pid}/task`)) ns += Number(readFileSync(`/proc/${p.pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // Ended meanwhile.
    }
  }
  return ns;
}

/** Resident memory (VmRSS, bytes) of this process's descendants named `comm`, summed. */
export function rssBytes(comm: string): number {
  let kb = 0;
  for (const p of descendantProcesses(comm)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // Ended meanwhile.
    }
  }
  return kb * 1024;
}
