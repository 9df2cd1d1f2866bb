// CPU and resident memory of the server processes a bench started (workerd, redis-server, postgres),
// read from Linux /proc: the descendants of this process whose command name is `comm`.
import { readdirSync, readFileSync } from "node:fs";

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
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
function descendants(comm: string): Proc[] {
  const all = processes();
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (!mine.has(p.pid) && mine.has(p.ppid)) (mine.add(p.pid), (grew = true));
  }
  return all.filter((p) => p.comm === comm && mine.has(p.pid));
}

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
