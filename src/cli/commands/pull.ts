/// <reference types="node" />
/**
 * `edgecert pull`: a server fetches its own certificate from an edgecert Worker (the hub) with a
 * deploy token, writes the certbot layout atomically (the same writer as `issue`/`renew`) and runs
 * its deploy hook only when the serial on disk changed. With `--watch` it sleeps until the hub's next
 * renewal time (plus jitter, so a fleet does not arrive at once) instead of polling.
 * @module
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { sleep } from "../../abort.ts";
import { agentKeyFromPem, openSealed } from "../../hub/seal.ts";
import type { CliContext } from "../context.ts";
import { deploy, hookFailure } from "../deploy.ts";
import { CliError, ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { assertCertName, defaultCertName, isDeployed, livePaths } from "../live-files.ts";
import { checkPulled, readPulledAnswer, type PulledCertificate } from "../pulled-certificate.ts";
import { COMMON_OPTIONS, type ParsedFlags } from "../options.ts";

/** Flags of `pull`. */
export const PULL_OPTIONS = {
  json: COMMON_OPTIONS.json,
  quiet: COMMON_OPTIONS.quiet,
  verbose: COMMON_OPTIONS.verbose,
  help: COMMON_OPTIONS.help,
  "ca-file": COMMON_OPTIONS["ca-file"],
  from: { type: "string" },
  token: { type: "string" },
  name: { type: "string" },
  out: { type: "string" },
  "cert-name": { type: "string" },
  "deploy-hook": { type: "string" },
  "agent-key": { type: "string" },
  watch: { type: "boolean" },
} as const;

/** What one pull did. */
interface PullOutcome {
  status: "updated" | "unchanged" | "hook-failed";
  serialNumber?: string;
  nextRenewalAt: number;
  hookError?: string;
}

const MINUTE = 60_000;
/** Sleep bounds in `--watch`: come back at least daily (a forced renewal or revocation), at most every 5 minutes. */
const MAX_SLEEP_MS = 24 * 60 * MINUTE;
const MIN_SLEEP_MS = 5 * MINUTE;
/** Jitter added after the renewal time: up to 10 % of the wait, at most 30 minutes. */
const MAX_JITTER_MS = 30 * MINUTE;

/**
 * How long `--watch` sleeps before the next pull: until `nextRenewalAt` (the hub renews at its next
 * cron tick after it, so come back a little later, with jitter), within [5 min, 24 h]. `capMs`
 * (`EDGECERT_PULL_MAX_SLEEP_MS`) lowers the ceiling, for tests and impatient operators.
 */
export function watchSleepMs(nextRenewalAt: number, now: number, random: number, capMs = MAX_SLEEP_MS): number {
  const wait = Math.max(MIN_SLEEP_MS, nextRenewalAt - now);
  const jitter = random * Math.min(wait * 0.1, MAX_JITTER_MS);
  return Math.max(0, Math.min(wait + jitter, MAX_SLEEP_MS, capMs));
}

/** Backoff after a failed pull in `--watch`: 1, 2, 4 … minutes, at most an hour, with jitter. */
function failureSleepMs(failures: number, random: number, capMs: number): number {
  return Math.min(Math.min(60 * MINUTE, MINUTE * 2 ** Math.min(failures - 1, 6)) * (0.5 + random / 2), capMs);
}

/** Runs `pull`; returns the exit code (with `--watch`, only when interrupted). */
export async function pullCommand(ctx: CliContext, flags: ParsedFlags<typeof PULL_OPTIONS>): Promise<ExitCodeValue> {
  const from = flags.from;
  const token = flags.token ?? ctx.io.env.EDGECERT_TOKEN;
  const name = flags.name;
  if (!from || !/^https?:\/\//.test(from)) throw new CliError("edgecert pull: --from must be the hub's URL, e.g. https://edgecert.example.workers.dev");
  if (!token) throw new CliError("edgecert pull: give the deploy token with --token or, better (not in ps), EDGECERT_TOKEN");
  if (!name) throw new CliError("edgecert pull: --name NAME is the certificate's name (one of its DNS names)");
  const certName = flags["cert-name"] ? assertCertName(flags["cert-name"]) : defaultCertName([name]);
  const agent = flags["agent-key"] ? await readAgentKey(flags["agent-key"]) : undefined;
  const capMs = sleepCap(ctx.io.env.EDGECERT_PULL_MAX_SLEEP_MS);
  const fetcher = await ctx.fetch(flags["ca-file"]);
  const url = new URL(`/v1/certificates/${encodeURIComponent(name)}`, from);
  const dir = flags.out ? resolve(flags.out) : ctx.dir;
  const options = { dir, url, token, name, certName, agent, hook: flags["deploy-hook"], fetcher };

  let failures = 0;
  for (;;) {
    let outcome: PullOutcome | undefined;
    try {
      outcome = await pullOnce(ctx, options);
      failures = 0;
    } catch (err) {
      if (!flags.watch || ctx.abort.signal.aborted) throw err;
      failures++;
      ctx.error(`pull ${name} failed (${failures} in a row): ${err instanceof Error ? err.message : String(err)}`);
    }
    const now = ctx.now();
    const sleepMs = outcome ? watchSleepMs(outcome.nextRenewalAt, now, Math.random(), capMs) : failureSleepMs(failures, Math.random(), capMs);
    if (outcome) report(ctx, name, certName, outcome, flags.watch ? sleepMs : undefined);
    if (!flags.watch) return outcome!.status === "hook-failed" ? ExitCode.hookFailed : ExitCode.ok;
    try {
      await sleep(sleepMs, ctx.abort.signal);
    } catch {
      return ExitCode.interrupted;
    }
  }
}

async function pullOnce(
  ctx: CliContext,
  o: { dir: string; url: URL; token: string; name: string; certName: string; agent: Awaited<ReturnType<typeof agentKeyFromPem>> | undefined; hook: string | undefined; fetcher: typeof fetch },
): Promise<PullOutcome> {
  const statePath = join(o.dir, "archive", o.certName, ".pull-state.json");
  const state = await readFile(statePath, "utf8").then((t) => JSON.parse(t) as { etag: string; serialNumber: string }, () => undefined);
  const headers: Record<string, string> = { authorization: `Bearer ${o.token}`, accept: "application/json" };
  // Conditional only while the files of that serial are in place and hooked: else fetch it all again.
  if (state && (await isDeployed(o.dir, o.certName, state.serialNumber))) headers["if-none-match"] = state.etag;
  const res = await o.fetcher(o.url, { headers, signal: ctx.abort.signal });
  const nextHeader = Date.parse(res.headers.get("edgecert-next-renewal") ?? "");
  if (res.status === 304) {
    await res.body?.cancel();
    return { status: "unchanged", nextRenewalAt: Number.isFinite(nextHeader) ? nextHeader : ctx.now() };
  }
  if (res.status !== 200) {
    const problem = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    const why = problem?.error?.message ?? `HTTP ${res.status}`;
    const hint = res.status === 401 ? " — the token is unknown, revoked or expired: ask for a new one" : res.status === 403 ? " — the token is not scoped to this name" : "";
    throw new CliError(`hub refused ${o.url.pathname} (${res.status} ${problem?.error?.code ?? ""}): ${why}${hint}`, ExitCode.failed);
  }
  const body = readPulledAnswer(await res.json().catch(() => undefined));
  const keyPem = await privateKeyOf(body, o.agent);
  // Checked before anything is written: a refusal leaves the live files as they were.
  const livePem = await readFile(livePaths(o.dir, o.certName).cert, "utf8").catch(() => undefined);
  const cert = await checkPulled(body, keyPem, { name: o.name, livePem, now: ctx.now(), directoryUrl: o.url.origin });
  const deployed = await deploy(o.dir, o.certName, cert, o.hook);
  const failure = hookFailure(o.certName, deployed);
  const newEtag = res.headers.get("etag");
  // Recorded only once the hook succeeded: a failed hook is retried with a full pull next time.
  if (!failure && newEtag) {
    const temp = `${statePath}.tmp-${crypto.randomUUID()}`;
    await writeFile(temp, JSON.stringify({ etag: newEtag, serialNumber: cert.serialNumber }), { mode: 0o644 });
    await rename(temp, statePath);
  }
  return {
    status: failure ? "hook-failed" : deployed.changed ? "updated" : "unchanged",
    serialNumber: cert.serialNumber,
    nextRenewalAt: cert.renewAt.getTime(),
    ...(failure ? { hookError: failure.line } : {}),
  };
}

async function privateKeyOf(body: PulledCertificate, agent: Awaited<ReturnType<typeof agentKeyFromPem>> | undefined): Promise<string> {
  if (body.sealedPrivateKey !== undefined) {
    if (!agent) throw new CliError("the hub sealed the private key to an agent key: pass that key with --agent-key FILE", ExitCode.usage);
    // The same context the hub sealed with (workers/hub/routes.ts sealContext): another certificate's or serial's key does not open.
    return openSealed(body.sealedPrivateKey, agent, `edgecert-pull:${body.id}:${body.serialNumber}`);
  }
  // An agent that expects sealing never accepts a key anyone on the path could have read.
  if (agent) throw new CliError("--agent-key is given but the hub sent the key unsealed: register the agent's public key with the deploy token", ExitCode.failed);
  if (typeof body.privateKeyPem !== "string") throw new CliError("the hub's answer has no private key", ExitCode.failed);
  return body.privateKeyPem;
}

async function readAgentKey(path: string) {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(`--agent-key ${path} cannot be read: ${(err as { code?: string }).code ?? String(err)}`);
  }
  try {
    return await agentKeyFromPem(pem);
  } catch (err) {
    throw new CliError(`--agent-key ${path}: ${err instanceof Error ? err.message : String(err)}`, ExitCode.usage, { cause: err });
  }
}

function sleepCap(value: string | undefined): number {
  if (value === undefined || value === "") return MAX_SLEEP_MS;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0) throw new CliError(`EDGECERT_PULL_MAX_SLEEP_MS=${JSON.stringify(value)} is not a number of milliseconds`);
  return ms;
}

function report(ctx: CliContext, name: string, certName: string, o: PullOutcome, sleepMs: number | undefined): void {
  const next = new Date(o.nextRenewalAt).toISOString();
  const json = { ok: o.status !== "hook-failed", command: "pull", name, certName, status: o.status, serialNumber: o.serialNumber ?? null, nextRenewalAt: next, ...(sleepMs !== undefined ? { sleepMs: Math.round(sleepMs) } : {}), ...(o.hookError ? { error: o.hookError } : {}) };
  const line =
    o.status === "hook-failed"
      ? `${certName}: FAILED ${o.hookError}`
      : `${certName}: ${o.status === "updated" ? `updated (serial ${o.serialNumber})` : "unchanged"}; next renewal ${next}${sleepMs !== undefined ? `; next pull in ${Math.round(sleepMs / 1000)} s` : ""}`;
  ctx.result(json, [line]);
  if (o.hookError && ctx.mode.quiet) ctx.error(o.hookError);
}
