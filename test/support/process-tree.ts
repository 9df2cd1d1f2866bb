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
