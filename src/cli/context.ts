/// <reference types="node" />
/**
 * What every command shares: where things live (`--dir`, `--storage`), the output mode, the progress
 * view, a request-counting `fetch` (with `--ca-file`), the clock, and how a manager is built for one
 * certificate.
 * @module
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import type { Solver } from "../acme/solver.ts";
import { parseCaLimits, type CaLimits } from "../budget/ca-limits.ts";
import { CertificateManager } from "../manager/certificate-manager.ts";
import type { ManagerEvent } from "../manager/events.ts";
import { keys, issuerKey } from "../manager/storage-keys.ts";
import type { AccountRecord } from "../manager/records.ts";
import { FileStorage } from "../storage/file-storage.ts";
import type { KeyAlgorithmName } from "../webcrypto/keys.ts";
import { fetchTrusting } from "./ca-fetch.ts";
import { problemDocument } from "./error-message.ts";
import { CliError } from "./exit-codes.ts";
import { lineView, silentView, ttyView, type ProgressEvent, type ProgressView } from "./progress.ts";
import { progressLogger, type ProgressSink } from "./progress-source.ts";

/** How results and progress are shown. */
export interface OutputMode {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

/** Where the CLI writes; tests and the TTY view read `isTTY`/`columns`. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  isTTY: boolean;
  columns?: number;
  env: Record<string, string | undefined>;
}

/** The flags every command has. */
export interface CommonFlags {
  dir?: string | undefined;
  storage?: string | undefined;
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
}

/** A command's environment. */
export class CliContext {
  readonly dir: string;
  readonly storage: FileStorage;
  readonly mode: OutputMode;
  readonly view: ProgressView;
  /** Requests sent (to the CA and DNS APIs) by this command. */
  requests = 0;
  readonly now: () => number;
  /** `EDGECERT_CA_LIMITS`: the CA's limits for every CA this run orders from (else the CA's published ones). */
  readonly caLimits: CaLimits | undefined;
  readonly abort = new AbortController();
  private currentCert: string | undefined;
  readonly sink: ProgressSink;
  private readonly fetches = new Map<string, Promise<typeof fetch>>();
  /** The `--ca-file` requests trusted, once one was used (named in trust errors). */
  caFile: string | undefined;

  constructor(
    readonly io: CliIo,
    flags: CommonFlags,
    interrupt?: AbortSignal,
  ) {
    if (interrupt) interrupt.addEventListener("abort", () => this.abort.abort(interrupt.reason), { once: true });
    this.mode = { json: flags.json === true, quiet: flags.quiet === true && flags.json !== true, verbose: flags.verbose === true };
    this.dir = resolve(flags.dir ?? io.env.EDGECERT_DIR ?? defaultDir(io.env));
    this.storage = new FileStorage({ dir: resolve(flags.storage ?? join(this.dir, "storage")) });
    this.now = clock(io.env.EDGECERT_NOW);
    this.caLimits = caLimitsFrom(io.env.EDGECERT_CA_LIMITS);
    const out = { write: (text: string) => io.stderr(text), ...(io.columns ? { columns: io.columns } : {}) };
    this.view = this.mode.json || this.mode.quiet ? silentView : io.isTTY ? ttyView(out) : lineView(out);
    this.sink = {
      emit: (event: ProgressEvent) => this.view.event(event),
      current: () => this.currentCert,
      verbose: this.mode.verbose,
    };
  }

  /** Sets which certificate the library's progress belongs to. */
  working(cert: string | undefined): void {
    this.currentCert = cert;
  }

  /** A counting fetch, trusting `caFile` when given (read once per command). */
  fetch(caFile?: string): Promise<typeof fetch> {
    const key = caFile ?? "";
    if (caFile) this.caFile = caFile;
    let made = this.fetches.get(key);
    if (!made) {
      made = (async () => {
        let inner: typeof fetch = (input, init) => fetch(input, init);
        if (caFile) {
          let pem: string;
          try {
            pem = await readFile(caFile, "utf8");
          } catch (err) {
            throw new CliError(`--ca-file ${caFile} cannot be read: ${(err as { code?: string }).code ?? String(err)}`);
          }
          if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new CliError(`--ca-file ${caFile} holds no PEM certificate`);
          inner = fetchTrusting(pem);
        }
        return ((input: RequestInfo | URL, init?: RequestInit) => {
          this.requests++;
          return inner(input, init);
        }) as typeof fetch;
      })();
      this.fetches.set(key, made);
    }
    return made;
  }

  /** A manager for one certificate's settings. */
  async manager(settings: {
    directoryUrl: string;
    email?: string | undefined;
    keyType?: KeyAlgorithmName | undefined;
    profile?: string | undefined;
    caFile?: string | undefined;
    eab?: { kid: string; hmacKey: string } | undefined;
    solvers?: Record<string, Solver>;
    preferred?: string[];
    onEvent?: (event: ManagerEvent) => void;
    /** Awaited before every request of the manager (its CA requests); a rejection fails the request unsent. */
    beforeRequest?: () => Promise<void>;
  }): Promise<CertificateManager> {
    const counted = await this.fetch(settings.caFile);
    const before = settings.beforeRequest;
    return new CertificateManager({
      storage: this.storage,
      directoryUrl: settings.directoryUrl,
      fetch: before ? (async (input: RequestInfo | URL, init?: RequestInit) => (await before(), counted(input, init))) as typeof fetch : counted,
      logger: progressLogger(this.sink),
      now: this.now,
      // Terms are checked by the CLI before an account is created (--agree-tos).
      termsOfServiceAgreed: true,
      ...(settings.email ? { email: settings.email } : {}),
      ...(settings.keyType ? { keyType: settings.keyType } : {}),
      ...(settings.profile ? { profile: settings.profile } : {}),
      ...(settings.eab ? { externalAccountBinding: settings.eab } : {}),
      ...(settings.solvers ? { solvers: settings.solvers } : {}),
      ...(settings.preferred ? { preferredChallenges: settings.preferred } : {}),
      ...(settings.onEvent ? { onEvent: settings.onEvent } : {}),
      ...(this.caLimits ? { caLimits: this.caLimits } : {}),
    });
  }

  /** The stored account for a CA and email (the manager's record), if one exists. */
  async account(directoryUrl: string, email: string | undefined): Promise<{ key: string; record: AccountRecord | undefined }> {
    const key = keys.account(issuerKey(directoryUrl), email);
    const bytes = await this.storage.get(key);
    return { key, record: bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as AccountRecord) : undefined };
  }

  /** Prints a result: JSON on stdout with `--json`, text lines otherwise (none with `--quiet`). */
  result(json: Record<string, unknown>, text: string[]): void {
    if (this.mode.json) this.io.stdout(`${JSON.stringify({ ...json, requests: this.requests })}\n`);
    else if (!this.mode.quiet) for (const line of text) this.io.stdout(`${line}\n`);
  }

  /** Reports a failed operation on stderr: its one line, and the CA's problem document with `--verbose`. */
  failure(line: string, err: unknown): void {
    this.error(line);
    const doc = this.mode.verbose && !this.mode.json ? problemDocument(err) : undefined;
    if (doc) this.io.stderr(`${doc}\n`);
  }

  /** Prints a warning or error line on stderr (also with `--quiet`; not with `--json`). */
  error(line: string): void {
    // Finish the progress view first: a later redraw would overwrite this line.
    this.view.close();
    if (!this.mode.json) this.io.stderr(`edgecert: ${line}\n`);
  }
}

/** `EDGECERT_CA_LIMITS` (the Worker's `CA_LIMITS` syntax, e.g. `orders=300/3h,domain=50/7d`), read once. */
function caLimitsFrom(text: string | undefined): CaLimits | undefined {
  if (!text?.trim()) return undefined;
  try {
    return parseCaLimits(text);
  } catch (err) {
    throw new CliError(`EDGECERT_CA_LIMITS: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function defaultDir(env: Record<string, string | undefined>): string {
  if (typeof process.getuid === "function" && process.getuid() === 0) return "/etc/edgecert";
  return join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), ".config"), "edgecert");
}

/**
 * The clock. `EDGECERT_NOW` (an ISO date) shifts it, for testing renewal timing: the manager decides
 * "due" with this clock; leases and network timeouts keep real time.
 */
function clock(override: string | undefined): () => number {
  if (!override) return Date.now;
  const at = Date.parse(override);
  if (Number.isNaN(at)) throw new CliError(`EDGECERT_NOW=${JSON.stringify(override)} is not a date`);
  const offset = at - Date.now();
  return () => Date.now() + offset;
}
