/**
 * A private PostgreSQL server (Debian `postgresql`: initdb + postgres from /usr/lib/postgresql/<ver>/bin)
 * on a free 127.0.0.1 port with a temporary data directory, trust authentication for user `edgecert`.
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user (or `nobody`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./redis-server.ts";

/** A running test PostgreSQL. */
export interface PostgresServer {
  port: number;
  /** `postgres://edgecert@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stops the server (fast shutdown: all connections end) and starts it on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The directory holding initdb and postgres, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ["postgres", "nobody"]) {
    const uid = spawnSync("id", ["-u", user], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", user], { encoding: "utf8" });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error("running as root and found neither a postgres nor a nobody user to run PostgreSQL as");
}

async function accepting(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** Starts a private PostgreSQL; resolves once `pg_isready` says it accepts connections. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const dir = await mkdtemp(join(tmpdir(), "edgecert-pg-"));
  const user = runAs();
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const ids = user ?? {};
  const init = spawnSync(join(bin, "initdb"), ["-D", data, "-U", "edgecert", "-A", "trust", "--no-sync", "-E", "UTF8", "--no-locale"], { encoding: "utf8", ...ids, cwd: dir });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    const proc: ChildProcess = spawn(join(bin, "postgres"), ["-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"], { stdio: ["ignore", "pipe", "pipe"], ...ids, cwd: dir });
    child = proc;
    let log = "";
    proc.stdout?.on("data", (c: Buffer) => (log += c.toString()));
    proc.stderr?.on("data", (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${log.slice(-2000)}`);
      if (await accepting(port)) {
        const ready = spawnSync(join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port), "-U", "edgecert"], { encoding: "utf8" });
        if (ready.status === 0) break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  /** Stops the server with `signal` (SIGINT: fast shutdown), SIGKILL after 5 s. */
  const halt = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    port,
    url: `postgres://edgecert@127.0.0.1:${port}/postgres`,
    async restart() {
      // A fast shutdown: every connection ends, open transactions roll back. Not an immediate one
      // (SIGQUIT): this server acknowledges commits before the WAL is flushed (synchronous_commit=off,
      // for speed), so a crash would lose acknowledged writes, which a production server does not.
      await halt("SIGINT");
      await start();
    },
    async stop() {
      await halt("SIGINT");
      await rm(dir, { recursive: true, force: true });
    },
  };
}
