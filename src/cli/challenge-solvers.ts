/// <reference types="node" />
/**
 * The solvers behind `--http`, `--webroot`, `--tls-alpn`, `--dns cloudflare`, `--dns-exec` and
 * `--dns-persist`. Standalone servers bind only when a challenge is presented — a `renew` with nothing
 * due never touches port 80 or 443 — and close when the command ends.
 * @module
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createSecureContext, createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { chmod, mkdir, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import type { ChallengeContext, Solver } from "../acme/solver.ts";
import { DnsPersist01Solver } from "../acme/dns-persist/solver.ts";
import { DNS_PERSIST_01 } from "../acme/dns-persist/rules.ts";
import { dns01Solver } from "../acme/solvers/dns01-solver.ts";
import { Http01Solver } from "../acme/solvers/http01-solver.ts";
import { withHttp01SelfCheck } from "../acme/solvers/http01-self-check.ts";
import { TlsAlpn01Solver } from "../acme/solvers/tls-alpn01-solver.ts";
import type { AcmeChallenge } from "../acme/types.ts";
import { CloudflareDnsSolver } from "../dns/cloudflare-dns-solver.ts";
import { ACME_TLS_ALPN_PROTOCOL } from "../webcrypto/tls-alpn-certificate.ts";
import { CliError, ExitCode } from "./exit-codes.ts";
import { runShell } from "./shell-hooks.ts";

/** How to prove control of the names; stored with each certificate so `renew` does the same. */
export interface ChallengeConfig {
  /** Standalone http-01 server (RFC 8555 §8.3). */
  http?: { port: number; address?: string };
  /** http-01 by writing files under this directory's `.well-known/acme-challenge/`. */
  webroot?: string;
  /**
   * Before an http-01 challenge is answered, fetch the token through the public path the CA will
   * use (`http://NAME/.well-known/acme-challenge/…`, port 80) and answer only if it is served.
   */
  selfCheck?: boolean;
  /** Standalone tls-alpn-01 server (RFC 8737). */
  tlsAlpn?: { port: number; address?: string };
  /** dns-01 through a DNS provider's API; the credentials come from the environment. */
  dns?: "cloudflare";
  /** DoH resolver (RFC 8484) that `dns` checks propagation at, instead of the public ones. */
  dnsResolver?: string;
  /** dns-01 through a command: `CMD present|cleanup <record FQDN> <TXT value>`. */
  dnsExec?: string;
  /**
   * dns-persist-01 (draft-ietf-acme-dns-persist, experimental): the owner creates the persistent
   * `_validation-persist` TXT records once; edgecert only checks them (over DoH, at `resolver`).
   */
  dnsPersist?: { resolver?: string };
}

/** Solvers for one command, and the servers to close when it ends. */
export interface ChallengeSolvers {
  solvers: Record<string, Solver>;
  /** Challenge types in the order given on the command line. */
  preferred: string[];
  /**
   * Binds the standalone servers' ports now (each once). Called before the first request of an order,
   * so a busy port is refused before anything is asked of the CA.
   */
  bind(): Promise<void>;
  close(): Promise<void>;
}

/** Told when a solver starts on an identifier and when it cleans up (for the progress view). */
export interface SolverListener {
  present(name: string, challengeType: string): void;
  cleanup(name: string): void;
}

/** Environment variable(s) the Cloudflare token is read from, first match wins (lego's names too). */
export const CLOUDFLARE_TOKEN_ENV = ["CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN", "CLOUDFLARE_API_TOKEN"] as const;
const HOOK_TIMEOUT_MS = 120_000;

/** Builds the solvers for `config`. Nothing binds a port until a challenge is presented. */
export function buildSolvers(config: ChallengeConfig, fetchFn: typeof fetch): ChallengeSolvers {
  const solvers: Record<string, Solver> = {};
  const preferred: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const binders: Array<() => Promise<unknown>> = [];
  const add = (type: string, solver: Solver, flag: string) => {
    if (solvers[type]) throw new CliError(`${flag} and another flag both solve ${type}: choose one`);
    solvers[type] = solver;
    preferred.push(type);
  };
  if (config.http) {
    const standalone = new StandaloneHttp01(config.http.port, config.http.address);
    add("http-01", standalone, "--http");
    binders.push(() => standalone.bind());
    closers.push(() => standalone.close());
  }
  if (config.webroot) add("http-01", webrootSolver(config.webroot), "--webroot");
  if (config.selfCheck) {
    if (!solvers["http-01"]) throw new CliError("--self-check checks http-01 through the name's public path: give it with --http or --webroot");
    // A misrouted name fails here, before the CA spends a validation on it (and counts a failed one).
    solvers["http-01"] = withHttp01SelfCheck(solvers["http-01"]);
  }
  if (config.tlsAlpn) {
    if ((globalThis as { Deno?: unknown }).Deno) {
      // Seen with Deno 2.9: its node:tls server never completes the acme-tls/1 handshake through
      // SNICallback, and Deno.listenTls takes one certificate, not one per validated name.
      throw new CliError("--tls-alpn does not work under Deno (its TLS server cannot pick a challenge certificate per name): use --http, --webroot or dns-01 there, or run edgecert with Node or Bun");
    }
    const standalone = new StandaloneTlsAlpn01(config.tlsAlpn.port, config.tlsAlpn.address);
    add("tls-alpn-01", standalone, "--tls-alpn");
    binders.push(() => standalone.bind());
    closers.push(() => standalone.close());
  }
  if (config.dns === "cloudflare") {
    const name = CLOUDFLARE_TOKEN_ENV.find((n) => process.env[n]);
    if (!name) throw new CliError(`--dns cloudflare needs an API token (Zone → DNS → Edit) in ${CLOUDFLARE_TOKEN_ENV.join(" or ")}`);
    const base = process.env.CLOUDFLARE_API_BASE_URL;
    const propagation = config.dnsResolver ? { propagation: { resolvers: [config.dnsResolver] } } : {};
    add("dns-01", new CloudflareDnsSolver({ apiToken: process.env[name]!, fetch: fetchFn, ...(base ? { apiBaseUrl: base } : {}), ...propagation }), "--dns");
  } else if (config.dns !== undefined) {
    throw new CliError(`--dns ${JSON.stringify(config.dns)} is not a provider edgecert knows (known: cloudflare; any other: --dns-exec CMD)`);
  }
  if (config.dnsExec) add("dns-01", execDnsSolver(config.dnsExec), "--dns-exec");
  if (config.dnsPersist) {
    const resolver = config.dnsPersist.resolver;
    add(DNS_PERSIST_01, new DnsPersist01Solver({ fetch: fetchFn, ...(resolver ? { resolver } : {}) }), "--dns-persist");
  }
  if (preferred.length === 0) {
    throw new CliError("choose how to prove control of the names: --http, --webroot DIR, --tls-alpn, --dns cloudflare, --dns-exec CMD or --dns-persist");
  }
  return {
    solvers,
    preferred,
    bind: async () => {
      await Promise.all(binders.map((b) => b()));
    },
    close: async () => {
      await Promise.all(closers.map((c) => c().catch(() => undefined)));
    },
  };
}

/** Wraps every solver so `listener` hears when a challenge is presented. */
export function observeSolvers(solvers: Record<string, Solver>, listener: SolverListener): Record<string, Solver> {
  const out: Record<string, Solver> = {};
  const nameOf = (ctx: ChallengeContext) => `${ctx.wildcard ? "*." : ""}${ctx.identifier.value}`;
  for (const [type, solver] of Object.entries(solvers)) {
    const wrapped: Solver = {
      present: (challenge, ctx) => {
        listener.present(nameOf(ctx), type);
        return solver.present(challenge, ctx);
      },
      cleanup: async (challenge, ctx) => {
        try {
          await solver.cleanup(challenge, ctx);
        } finally {
          listener.cleanup(nameOf(ctx));
        }
      },
    };
    if (solver.wait) wrapped.wait = (challenge, ctx) => solver.wait!(challenge, ctx);
    out[type] = wrapped;
  }
  return out;
}

function listenError(flag: string, port: number, address: string | undefined, err: unknown): CliError {
  const code = (err as { code?: string }).code;
  const where = `${address ?? "*"}:${port}`;
  const hint =
    code === "EADDRINUSE" ? `another server holds ${where} (stop it, or use --webroot / --dns-exec)` : code === "EACCES" ? `ports below 1024 need root or CAP_NET_BIND_SERVICE` : String(err);
  return new CliError(`${flag} could not listen on ${where}: ${hint}`, ExitCode.failed, { cause: err });
}

/** A server bound on first use and closed at the end of the command. */
class LazyServer<S extends HttpServer | TlsServer> {
  private server: Promise<S> | undefined;

  constructor(
    private readonly create: () => S,
    private readonly port: number,
    private readonly address: string | undefined,
    private readonly flag: string,
  ) {}

  /** Binds the port unless already bound. */
  ensure(): Promise<S> {
    this.server ??= new Promise<S>((resolve, reject) => {
      const server = this.create();
      server.once("error", (err) => reject(listenError(this.flag, this.port, this.address, err)));
      server.listen(this.port, this.address, () => resolve(server));
    });
    return this.server;
  }

  async close(): Promise<void> {
    const server = await this.server?.catch(() => undefined);
    if (!server) return;
    (server as HttpServer).closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** http-01 on its own port (default 80), serving only live tokens. */
class StandaloneHttp01 implements Solver {
  private readonly tokens = new Http01Solver();
  private readonly server: LazyServer<HttpServer>;

  constructor(port: number, address: string | undefined) {
    this.server = new LazyServer(() => createHttpServer((req, res) => {
      const body = req.method === "GET" || req.method === "HEAD" ? this.tokens.respond(req.url ?? "") : undefined;
      if (body === undefined) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      // RFC 8555 §8.3: the body is the key authorization.
      res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : body);
    }), port, address, "--http");
  }

  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    await this.tokens.present(challenge, ctx);
    await this.server.ensure();
  }

  async cleanup(challenge: AcmeChallenge): Promise<void> {
    await this.tokens.cleanup(challenge);
  }

  bind(): Promise<unknown> {
    return this.server.ensure();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** tls-alpn-01 on its own port (default 443): every connection is a validation (RFC 8737 §3). */
class StandaloneTlsAlpn01 implements Solver {
  private readonly certificates = new TlsAlpn01Solver();
  private readonly server: LazyServer<TlsServer>;

  constructor(port: number, address: string | undefined) {
    this.server = new LazyServer(() => {
      const server = createTlsServer({
        ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
        SNICallback: (serverName, callback) => {
          const certificate = this.certificates.certificateFor(serverName);
          if (!certificate) callback(new Error(`no tls-alpn-01 challenge for ${serverName}`));
          else callback(null, createSecureContext({ cert: certificate.certificatePem, key: certificate.privateKeyPem }));
        },
      });
      // The validation is the handshake; nothing is served.
      server.on("secureConnection", (socket) => socket.end());
      server.on("tlsClientError", (_err, socket) => socket.destroy());
      return server;
    }, port, address, "--tls-alpn");
  }

  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    await this.certificates.present(challenge, ctx);
    await this.server.ensure();
  }

  async cleanup(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    await this.certificates.cleanup(challenge, ctx);
  }

  bind(): Promise<unknown> {
    return this.server.ensure();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** Mode of the challenge folders and files: readable by any user, since the web server usually runs as another user. */
const WEBROOT_DIR_MODE = 0o755;
const WEBROOT_FILE_MODE = 0o644;

/**
 * http-01 through files another web server serves (certbot's `--webroot`). The modes are set with
 * chmod after creating, not only passed to mkdir/open: those are masked by the umask, and under
 * `umask 077` (systemd's `UMask=0077`) the folders were 0700 and the file 0600, which a web server
 * running as another user cannot read. `.well-known` and `.well-known/acme-challenge` exist to be
 * served, so folders found narrower than 0755 are widened (never narrowed); the webroot itself is the
 * operator's and is left alone (a failed validation's hint names it when it is closed to others).
 */
function webrootSolver(root: string): Solver {
  const wellKnown = join(root, ".well-known");
  const dir = join(wellKnown, "acme-challenge");
  return {
    async present(challenge, ctx) {
      const file = join(dir, challenge.token);
      try {
        for (const folder of [wellKnown, dir]) {
          await mkdir(folder, { recursive: true, mode: WEBROOT_DIR_MODE });
          const { mode } = await stat(folder);
          if ((mode & WEBROOT_DIR_MODE) !== WEBROOT_DIR_MODE) await chmod(folder, (mode & 0o7777) | WEBROOT_DIR_MODE);
        }
        await writeFile(file, ctx.keyAuthorization, { mode: WEBROOT_FILE_MODE });
        await chmod(file, WEBROOT_FILE_MODE);
      } catch (err) {
        throw new CliError(`--webroot could not write ${file}: ${(err as { code?: string }).code ?? String(err)}`, ExitCode.failed, { cause: err });
      }
    },
    async cleanup(challenge) {
      await unlink(join(dir, challenge.token)).catch(() => undefined);
    },
  };
}

/**
 * Why a web server running as another user may not read a webroot challenge file: the first folder
 * on the way from `/` to the challenge folder that others cannot enter (no `o+x`), or the challenge
 * folder when others cannot list it. Undefined when every mode allows it (or a folder cannot be read).
 */
export async function webrootPermissionProblem(root: string): Promise<string | undefined> {
  const dir = resolve(root, ".well-known", "acme-challenge");
  const folders: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    folders.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const folder of folders) {
    let mode: number;
    try {
      mode = (await stat(folder)).mode & 0o777;
    } catch {
      return undefined;
    }
    if ((mode & 0o001) === 0) return `${folder} is ${mode.toString(8).padStart(4, "0")}: a web server running as another user cannot enter it (chmod o+x, or 755)`;
  }
  return undefined;
}

/**
 * dns-01 through a command, like lego's `exec` provider:
 * `CMD present <record FQDN> <TXT value>`, then `CMD cleanup <record FQDN> <TXT value>`, where the
 * FQDN ends with a dot (`_acme-challenge.example.com.`). The environment also carries
 * `EDGECERT_DNS_ACTION`, `EDGECERT_DNS_RECORD`, `EDGECERT_DNS_VALUE` and `EDGECERT_DOMAIN`. `present`
 * must return once the record is published (exit 0); a non-zero exit fails that name's validation.
 * Values of one record name come one at a time: a wildcard and its base name add two values to the
 * same name, so the command must add/remove single values, not replace the record set.
 */
function execDnsSolver(command: string): Solver {
  const run = async (action: "present" | "cleanup", name: string, value: string, ctx: ChallengeContext) => {
    const fqdn = `${name}.`;
    const result = await runShell(command, {
      args: [action, fqdn, value],
      env: { EDGECERT_DNS_ACTION: action, EDGECERT_DNS_RECORD: fqdn, EDGECERT_DNS_VALUE: value, EDGECERT_DOMAIN: ctx.identifier.value },
      timeoutMs: HOOK_TIMEOUT_MS,
      signal: ctx.signal,
    });
    if (result.code !== 0) {
      throw new CliError(`--dns-exec ${action} ${fqdn} exited ${result.code ?? "(killed)"}${result.tail ? `: ${result.tail}` : ""}`, ExitCode.failed);
    }
  };
  return dns01Solver({
    setTxt: (name, value, ctx) => run("present", name, value, ctx),
    removeTxt: (name, value, ctx) => run("cleanup", name, value, ctx),
  });
}
