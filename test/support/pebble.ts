/**
 * Test bed that starts a real Pebble ACME server (plus pebble-challtestsrv for
 * DNS) on 127.0.0.1, with freshly generated TLS material, for integration tests.
 *
 * Pebble 2.4.0 notes:
 * - The config struct only knows listenAddress, managementListenAddress,
 *   httpPort, tlsPort, certificate, privateKey, ocspResponderURL,
 *   externalAccountBindingRequired, externalAccountMACKeys, domainBlocklist and
 *   certificateValidityPeriod. `retryAfter` does not exist in 2.4 and is not written.
 * - Orders-per-page is only configurable via PEBBLE_WFE_ORDERS_PER_PAGE.
 * - pebble-challtestsrv 2.4 has no `-doh` flag.
 *
 * @module
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { agentFetch } from "./agent-fetch.ts";

/** Options for {@link startPebble}. Each maps to a Pebble env var or config field. */
export interface PebbleOptions {
  /** PEBBLE_WFE_NONCEREJECT (percent of valid nonces rejected as badNonce). Default 0. */
  nonceRejectPercent?: number;
  /**
   * PEBBLE_AUTHZREUSE (percent chance of reusing valid authzs). Default 0 — which still reuses one time
   * in 100 per name: Pebble 2.4 makes a new authz only when rand.Intn(100) > the percentage. A test that
   * needs a new order to ask for a challenge must allow for it (test/workers/dns01.test.ts).
   */
  authzReusePercent?: number;
  /** PEBBLE_VA_NOSLEEP (disable random validation delays). Default true. */
  noSleep?: boolean;
  /** PEBBLE_VA_ALWAYS_VALID (skip real challenge validation). Default false. */
  alwaysValid?: boolean;
  /** PEBBLE_ALTERNATE_ROOTS (number of extra issuance hierarchies). Default 0. */
  alternateRoots?: number;
  /** PEBBLE_CHAIN_LENGTH (number of certs in the chain incl. root). Unset by default. */
  chainLength?: number;
  /** When set: EAB is required and these are the `kid -> base64url HMAC key` pairs. */
  eab?: Record<string, string>;
  /** PEBBLE_WFE_ORDERS_PER_PAGE (page size of the account orders list). Unset by default. */
  ordersPerPage?: number;
}

/** A running Pebble + challtestsrv pair. Call {@link PebbleInstance.stop} when done. */
export interface PebbleInstance {
  /** ACME directory URL, `https://127.0.0.1:<port>/dir`. */
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's own HTTPS (listen/management) certificate. */
  caPem: string;
  /**
   * A fetch that trusts {@link PebbleInstance.caPem} (undici `fetch` + `Agent`).
   * Note: responses are undici@7 `Response` objects, not Node's global class.
   */
  fetch: typeof fetch;
  /** Port Pebble's VA connects to for http-01; the test serves it on 127.0.0.1. */
  httpPort: number;
  /** Port Pebble's VA connects to for tls-alpn-01; the test serves it on 127.0.0.1. */
  tlsPort: number;
  /** challtestsrv DNS port (UDP+TCP) on 127.0.0.1; Pebble resolves through it. */
  dnsPort: number;
  /** challtestsrv management base URL, `http://127.0.0.1:<port>`. */
  challtestsrvUrl: string;
  /** Adds a TXT record for `host` (a trailing dot is appended if missing). */
  setTxt(host: string, value: string): Promise<void>;
  /** Removes all TXT records for `host` (a trailing dot is appended if missing). */
  clearTxt(host: string): Promise<void>;
  /** Issuance root(s) as PEM from Pebble's management interface: index 0 first, then alternates. */
  rootsPem(): Promise<string[]>;
  /** Process ids of the two children (for leak checks). */
  pids: { pebble: number; challtestsrv: number };
  /** SIGTERM both children (SIGKILL after 2 s), remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Overall readiness budget per start attempt. */
// A bound on waiting for a condition, not a speed requirement: on 2 cores at load 30 Pebble took more
// than 10 s to answer its directory (a full run today), so the bound is generous.
const READY_TIMEOUT_MS = 45_000;
/** Grace period between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** Start attempts when a port clash is detected. */
const MAX_START_ATTEMPTS = 3;
/** Bytes of child output kept in memory per child. */
const RING_BYTES = 16 * 1024;
/** Bytes of child output included in startup errors. */
const ERROR_TAIL_BYTES = 2 * 1024;

/** How Go reports EADDRINUSE in the children's logs. */
const ADDRESS_IN_USE = /address already in use/i;

/** Bounded in-memory buffer keeping the last {@link RING_BYTES} bytes written. */
class OutputRing {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}

  /** Appends a chunk, dropping the oldest data beyond the limit. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.max;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  /** The last `bytes` bytes as UTF-8 text. */
  tail(bytes: number): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - bytes)).toString("utf8");
  }
}

/** A spawned child with captured output. */
interface Child {
  name: string;
  proc: ChildProcess;
  output: OutputRing;
  spawnError: Error | undefined;
  exited: Promise<void>;
}

// ---- leak protection ------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const liveTempDirs = new Set<string>();
let exitHandlerInstalled = false;

/** Registers (once) a process 'exit' handler that SIGKILLs children and removes temp dirs. */
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on("exit", () => {
    for (const proc of liveChildren) {
      try {
        proc.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of liveTempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

// ---- small helpers --------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a command, rejecting with its stderr on failure. */
function run(file: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
      else resolve();
    });
  });
}

/** Whether the child is still running. */
function isAlive(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/** Gets a free TCP port on 127.0.0.1 (bind to 0, read, close). */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("unexpected server address"));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can currently be bound for UDP on 127.0.0.1. */
function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    socket.unref();
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: "127.0.0.1", port, exclusive: true }, () => {
      socket.close(() => resolve(true));
    });
  });
}

/** Picks `count` distinct free TCP ports; the first is also checked free for UDP (DNS). */
async function pickPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < count * 20; tries++) {
    const port = await freeTcpPort();
    if (ports.includes(port)) continue;
    if (ports.length === 0 && !(await udpPortFree(port))) continue;
    ports.push(port);
  }
  if (ports.length < count) throw new Error("could not find enough free ports on 127.0.0.1");
  return ports;
}

/** Spawns a child with piped (captured) output and registers it for leak protection. */
function spawnChild(name: string, file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Child {
  const proc = spawn(file, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const output = new OutputRing(RING_BYTES);
  const child: Child = {
    name,
    proc,
    output,
    spawnError: undefined,
    exited: new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.once("error", () => resolve());
    }),
  };
  proc.once("error", (error) => {
    child.spawnError = error;
  });
  proc.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
  proc.stderr?.on("data", (chunk: Buffer) => output.push(chunk));
  liveChildren.add(proc);
  void child.exited.then(() => liveChildren.delete(proc));
  return child;
}

/** SIGTERM, then SIGKILL after {@link KILL_GRACE_MS}; resolves once exited (bounded). */
async function terminate(child: Child): Promise<void> {
  const { proc } = child;
  if (proc.pid === undefined || !isAlive(proc)) {
    liveChildren.delete(proc);
    return;
  }
  proc.kill("SIGTERM");
  const graceful = await Promise.race([child.exited.then(() => true), sleep(KILL_GRACE_MS).then(() => false)]);
  if (!graceful && isAlive(proc)) {
    proc.kill("SIGKILL");
    await Promise.race([child.exited, sleep(KILL_GRACE_MS)]);
  }
  liveChildren.delete(proc);
}

/** Describes a child's state and output tail for error messages. */
function describeChild(child: Child): string {
  const { proc } = child;
  const state = child.spawnError
    ? (child.spawnError as NodeJS.ErrnoException).code === "ENOENT"
      ? `not installed: ${child.name} is not on PATH (Debian package pebble: sudo apt-get install -y pebble)`
      : `failed to spawn: ${child.spawnError.message}`
    : isAlive(proc)
      ? "still running"
      : `exited (code ${String(proc.exitCode)}, signal ${String(proc.signalCode)})`;
  return `--- ${child.name} (${state}) last output:\n${child.output.tail(ERROR_TAIL_BYTES)}`;
}

/** Normalizes a host name to an FQDN with a trailing dot. */
function fqdn(host: string): string {
  return host.endsWith(".") ? host : `${host}.`;
}


/** Generates an EC P-256 CA and a `localhost`/`127.0.0.1` server cert signed by it. */
async function generateCerts(dir: string): Promise<{ caPem: string; certFile: string; keyFile: string }> {
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.pem");
  const keyFile = join(dir, "server.key");
  const csrFile = join(dir, "server.csr");
  const certFile = join(dir, "server.pem");
  const extFile = join(dir, "server.ext");
  await run(
    "openssl",
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", caKey, "-out", caCert, "-days", "30", "-sha256",
      "-subj", "/CN=edgecert test listen CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  await run(
    "openssl",
    [
      "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", keyFile, "-out", csrFile, "-subj", "/CN=localhost",
    ],
    dir,
  );
  await writeFile(
    extFile,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "",
    ].join("\n"),
  );
  // Positive random serial (first hex digit < 8 keeps the DER integer positive and minimal).
  const serial = `0x${Math.floor(Math.random() * 8).toString(16)}${Array.from({ length: 15 }, () =>
    Math.floor(Math.random() * 16).toString(16),
  ).join("")}`;
  await run(
    "openssl",
    [
      "x509", "-req", "-in", csrFile, "-CA", caCert, "-CAkey", caKey, "-set_serial", serial,
      "-days", "30", "-sha256", "-extfile", extFile, "-out", certFile,
    ],
    dir,
  );
  const caPem = await readFile(caCert, "utf8");
  return { caPem, certFile, keyFile };
}

/** Ports used by one start attempt. */
interface Ports {
  dns: number;
  listen: number;
  management: number;
  http: number;
  tls: number;
  challtestsrvManagement: number;
}

/** Error from a start attempt, flagged when it looks like a port clash (retryable). */
class StartError extends Error {
  constructor(
    message: string,
    readonly portClash: boolean,
  ) {
    super(message);
    this.name = "StartError";
  }
}

/** Starts both children on `ports` and waits until both are ready, or throws a StartError. */
async function startAttempt(
  dir: string,
  ports: Ports,
  certFile: string,
  keyFile: string,
  options: PebbleOptions,
  trustingFetch: typeof fetch,
): Promise<{ pebble: Child; challtestsrv: Child }> {
  const configFile = join(dir, "pebble-config.json");
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${ports.listen}`,
      managementListenAddress: `127.0.0.1:${ports.management}`,
      certificate: certFile,
      privateKey: keyFile,
      httpPort: ports.http,
      tlsPort: ports.tls,
      ocspResponderURL: "",
      externalAccountBindingRequired: options.eab !== undefined,
      ...(options.eab === undefined ? {} : { externalAccountMACKeys: options.eab }),
      domainBlocklist: [] as string[],
    },
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const baseEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, TMPDIR: dir };
  const pebbleEnv: NodeJS.ProcessEnv = {
    ...baseEnv,
    PEBBLE_WFE_NONCEREJECT: String(options.nonceRejectPercent ?? 0),
    PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
    PEBBLE_VA_NOSLEEP: (options.noSleep ?? true) ? "1" : "0",
    PEBBLE_VA_ALWAYS_VALID: options.alwaysValid ? "1" : "0",
    PEBBLE_ALTERNATE_ROOTS: String(options.alternateRoots ?? 0),
    ...(options.chainLength === undefined ? {} : { PEBBLE_CHAIN_LENGTH: String(options.chainLength) }),
    ...(options.ordersPerPage === undefined ? {} : { PEBBLE_WFE_ORDERS_PER_PAGE: String(options.ordersPerPage) }),
  };

  const challtestsrv = spawnChild(
    "pebble-challtestsrv",
    "pebble-challtestsrv",
    [
      "-defaultIPv4", "127.0.0.1",
      "-defaultIPv6", "",
      "-dns01", `127.0.0.1:${ports.dns}`,
      "-management", `127.0.0.1:${ports.challtestsrvManagement}`,
      "-http01", "",
      "-https01", "",
      "-tlsalpn01", "",
    ],
    baseEnv,
    dir,
  );
  const pebble = spawnChild(
    "pebble",
    "pebble",
    ["-config", configFile, "-dnsserver", `127.0.0.1:${ports.dns}`],
    pebbleEnv,
    dir,
  );
  const children = [challtestsrv, pebble];

  const directoryUrl = `https://127.0.0.1:${ports.listen}/dir`;
  const rootsUrl = `https://127.0.0.1:${ports.management}/roots/0`;
  const challtestsrvUrl = `http://127.0.0.1:${ports.challtestsrvManagement}/`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let pebbleReady = false;
  let challtestsrvReady = false;
  let dnsReady = false;
  let failure: string | undefined;
  let lastProbeError = "";
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${ports.dns}`]);

  while (!(pebbleReady && challtestsrvReady && dnsReady)) {
    const dead = children.find((c) => c.spawnError !== undefined || !isAlive(c.proc));
    if (dead) {
      failure = `${dead.name} exited during startup`;
      break;
    }
    // challtestsrv keeps running when a DNS/management bind fails; it only logs it.
    const clashed = children.find((c) => ADDRESS_IN_USE.test(c.output.tail(RING_BYTES)));
    if (clashed) {
      failure = `${clashed.name} could not bind a port`;
      break;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      failure = `timed out after ${READY_TIMEOUT_MS} ms waiting for ${[
        pebbleReady ? "" : "pebble directory",
        challtestsrvReady ? "" : "challtestsrv management",
        dnsReady ? "" : "challtestsrv DNS",
      ]
        .filter(Boolean)
        .join(" and ")} (last probe error: ${lastProbeError})`;
      break;
    }
    const probeTimeout = Math.max(50, Math.min(1_000, remaining));
    if (!challtestsrvReady) {
      try {
        // Any HTTP answer (even 404) means the management server is up.
        await undiciFetch(challtestsrvUrl, { signal: AbortSignal.timeout(probeTimeout) }).then((r) => r.arrayBuffer());
        challtestsrvReady = true;
      } catch (error) {
        lastProbeError = `challtestsrv: ${String(error instanceof Error && error.cause ? error.cause : error)}`;
      }
    }
    if (!dnsReady) {
      try {
        // challtestsrv answers every A query with -defaultIPv4.
        const answers = await resolver.resolve4("edgecert-testbed-ready.test");
        if (answers.includes("127.0.0.1")) dnsReady = true;
        else lastProbeError = `challtestsrv DNS: unexpected answer ${answers.join(",")}`;
      } catch (error) {
        lastProbeError = `challtestsrv DNS: ${String(error)}`;
      }
    }
    if (!pebbleReady) {
      try {
        // Both the ACME directory and the management interface must answer.
        for (const url of [directoryUrl, rootsUrl]) {
          const response = await trustingFetch(url, { signal: AbortSignal.timeout(probeTimeout) });
          await response.arrayBuffer();
          if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
        }
        pebbleReady = true;
      } catch (error) {
        lastProbeError = `pebble: ${String(error instanceof Error && error.cause ? error.cause : error)}`;
      }
    }
    if (!(pebbleReady && challtestsrvReady && dnsReady)) await sleep(50);
  }

  if (failure !== undefined) {
    await Promise.all(children.map(terminate));
    const details = children.map(describeChild).join("\n");
    const portClash = children.some((c) => ADDRESS_IN_USE.test(c.output.tail(RING_BYTES)));
    throw new StartError(`Pebble test bed failed to start: ${failure}\n${details}`, portClash);
  }
  return { pebble, challtestsrv };
}

/**
 * Starts Pebble and pebble-challtestsrv on free 127.0.0.1 ports with a freshly
 * generated listen certificate. Retries (up to 3 attempts) on port clashes.
 * Throws with the children's output tail if startup fails or exceeds 10 s.
 */
export async function startPebble(options: PebbleOptions = {}): Promise<PebbleInstance> {
  installExitHandler();
  const dir = await mkdtemp(join(tmpdir(), "edgecert-pebble-"));
  liveTempDirs.add(dir);
  let agent: Agent | undefined;
  try {
    const { caPem, certFile, keyFile } = await generateCerts(dir);
    const activeAgent = new Agent({ connect: { ca: caPem }, keepAliveTimeout: 1_000 });
    agent = activeAgent;
    const trustingFetch = agentFetch(activeAgent);

    let started: { pebble: Child; challtestsrv: Child; ports: Ports } | undefined;
    for (let attempt = 1; started === undefined; attempt++) {
      const [dns, listen, management, http, tls, challtestsrvManagement] = (await pickPorts(6)) as [
        number, number, number, number, number, number,
      ];
      const ports: Ports = { dns, listen, management, http, tls, challtestsrvManagement };
      try {
        const children = await startAttempt(dir, ports, certFile, keyFile, options, trustingFetch);
        started = { ...children, ports };
      } catch (error) {
        if (!(error instanceof StartError && error.portClash && attempt < MAX_START_ATTEMPTS)) throw error;
      }
    }

    const { pebble, challtestsrv, ports } = started;
    const challtestsrvUrl = `http://127.0.0.1:${ports.challtestsrvManagement}`;
    const managementUrl = `https://127.0.0.1:${ports.management}`;

    const postChalltestsrv = async (path: string, body: Record<string, string>): Promise<void> => {
      const response = await undiciFetch(`${challtestsrvUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`challtestsrv ${path} failed: HTTP ${response.status} ${text}`);
    };

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        await Promise.all([terminate(pebble), terminate(challtestsrv)]);
        await activeAgent.destroy().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
        liveTempDirs.delete(dir);
      })();
      return stopping;
    };

    return {
      directoryUrl: `https://127.0.0.1:${ports.listen}/dir`,
      caPem,
      fetch: trustingFetch,
      httpPort: ports.http,
      tlsPort: ports.tls,
      dnsPort: ports.dns,
      challtestsrvUrl,
      setTxt: (host, value) => postChalltestsrv("/set-txt", { host: fqdn(host), value }),
      clearTxt: (host) => postChalltestsrv("/clear-txt", { host: fqdn(host) }),
      async rootsPem() {
        const roots: string[] = [];
        for (let i = 0; i <= (options.alternateRoots ?? 0); i++) {
          const response = await trustingFetch(`${managementUrl}/roots/${i}`, { signal: AbortSignal.timeout(5_000) });
          const text = await response.text();
          if (!response.ok) throw new Error(`pebble /roots/${i} failed: HTTP ${response.status} ${text}`);
          roots.push(text);
        }
        return roots;
      },
      pids: { pebble: pebble.proc.pid ?? -1, challtestsrv: challtestsrv.proc.pid ?? -1 },
      stop,
    };
  } catch (error) {
    await agent?.destroy().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    liveTempDirs.delete(dir);
    throw error;
  }
}
