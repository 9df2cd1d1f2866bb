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
  const child: ChildProcess = spawn(join(bin, "postgres"), ["-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"], { stdio: ["ignore", "pipe", "pipe"], ...ids, cwd: dir });
  let log = "";
  child.stdout?.on("data", (c: Buffer) => (log += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${log.slice(-2000)}`);
    if (await accepting(port)) {
      const ready = spawnSync(join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port), "-U", "edgecert"], { encoding: "utf8" });
      if (ready.status === 0) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `postgres://edgecert@127.0.0.1:${port}/postgres`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT"); // fast shutdown
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
