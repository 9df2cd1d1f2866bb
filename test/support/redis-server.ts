/**
 * A private redis-server (Debian `redis-server`) on a free 127.0.0.1 port with a temporary data
 * directory and AOF persistence (`appendfsync always`), so a restart keeps what was written, as a
 * production Redis behind edgecert must. `restart()` kills it (SIGKILL) and starts it again on the same
 * port and data.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running test Redis. */
export interface RedisServer {
  port: number;
  url: string;
  /** Its data directory (AOF files): copy it while killed to take a backup, copy it back to restore one. */
  dir: string;
  /** SIGKILL, then start again on the same port and data directory; resolves once it answers. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** SIGKILL only (for fault tests); `start()` brings it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The redis-server binary, or undefined when it is not installed. */
export function redisServerBinary(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
    socket.once("connect", () => socket.write("PING\r\n"));
  });
}

/** Starts a private redis-server. */
export async function startRedis(): Promise<RedisServer> {
  const binary = redisServerBinary();
  if (!binary) throw new Error("redis-server is not installed (apt-get install redis-server)");
  const dir = await mkdtemp(join(tmpdir(), "edgecert-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = "";

  const start = async () => {
    log = "";
    const proc = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    proc.stdout?.on("data", (c: Buffer) => (log += c.toString()));
    proc.stderr?.on("data", (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}: ${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    // Gone already, by exit or by a signal (exitCode stays null then: waiting for 'exit' would hang).
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    start,
    kill,
    async restart(options) {
      await kill();
      if (options?.downMs) await new Promise((r) => setTimeout(r, options.downMs));
      await start();
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
