/**
 * Typed errors as one actionable line: what failed, for which name, what to check. `--verbose` adds
 * the CA's problem document (RFC 7807 / RFC 8555 §6.7) as the CA sent it.
 * @module
 */
import { dnsPersistRecordsFor, type DnsPersistRecordToCreate } from "../acme/dns-persist/records.ts";
import { parseDnsPersistRecord } from "../acme/dns-persist/rules.ts";
import { DnsPersistRecordsNotReadyError } from "../acme/dns-persist/solver.ts";
import { toIdentifiers } from "../acme/identifiers.ts";
import { IssuanceError } from "../acme/issuance-error.ts";
import { AcmeProblem } from "../acme/problem.ts";
import { statusRetryClass } from "../acme/retry.ts";
import { untrustedTlsReason } from "../acme/transport-errors.ts";
import { EdgecertError } from "../errors.ts";
import { CliError } from "./exit-codes.ts";

/**
 * What the failed command was doing: the same problem type means different things in different
 * operations (an account key change refused with `rejectedIdentifier` says nothing about a name), so
 * hints are chosen per operation.
 */
export type CliOperation = "issuance" | "account" | "revoke" | "other";

/** Where the error happened, for a hint that names the flag to change. */
export interface ErrorContext {
  operation?: CliOperation;
  /** `--webroot` of the certificate, and what {@link webrootPermissionProblem} found in it. */
  webroot?: { dir: string; problem?: string | undefined };
  /** `--ca-file` the request trusted, if one was given. */
  caFile?: string | undefined;
}

/** Hints per ACME problem type (RFC 8555 §6.7) that concern getting a certificate for names. */
const ISSUANCE_HINTS: Readonly<Record<string, string>> = {
  connection: "check that the CA can reach this host (DNS A/AAAA records, firewall, the port the challenge uses)",
  unauthorized: "check that the name points at this host and that nothing else answers the challenge",
  incorrectResponse: "check that requests for /.well-known/acme-challenge/ reach edgecert (or the --webroot directory)",
  dns: "check the name's DNS records (and the TXT record for dns-01) with dig",
  caa: "a CAA record forbids this CA: add one that allows it",
  tls: "check that the tls-alpn-01 port reaches edgecert directly (no TLS-terminating proxy in front)",
  rejectedIdentifier: "the CA will not issue for this name (policy): check spelling, or choose another CA",
  badCSR: "the CA refused the CSR: try --key-type ES256",
};

/** Hints per ACME problem type that hold whatever the operation. */
const ACCOUNT_HINTS: Readonly<Record<string, string>> = {
  rateLimited: "the CA's rate limit was hit: wait, or use --server letsencrypt-staging while testing",
  externalAccountRequired: "this CA needs --eab-kid and --eab-hmac",
  accountDoesNotExist: "the stored account is gone at the CA: run `edgecert account` to inspect it",
  unauthorizedAccount: "the account may be deactivated: see `edgecert account`",
  userActionRequired: "the CA's terms changed: visit the URL in the problem (--verbose) and accept them",
  invalidContact: "check --email",
  serverInternal: "the CA had an internal error: retry later",
};

/** http-01 problems a webroot whose files the web server cannot read produces (it answers 403 or 404). */
const WEBROOT_KINDS: ReadonlySet<string> = new Set(["unauthorized", "incorrectResponse"]);

const firstLine = (s: string) => s.split("\n")[0] ?? s;

/** The problem behind an error, when there is one. */
export function problemOf(err: unknown): AcmeProblem | undefined {
  if (err instanceof AcmeProblem) return err;
  if (err instanceof IssuanceError) return err.problem ?? err.failures.find((f) => f.problem)?.problem;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause && cause !== err ? problemOf(cause) : undefined;
}

/** One line for `err`, for the certificate `names` (when it concerns one), with hints for `context`'s operation. */
export function errorLine(err: unknown, names: readonly string[] = [], context: ErrorContext = {}): string {
  const subject = names.length ? ` for ${names.join(", ")}` : "";
  if (err instanceof CliError) return err.message;
  const untrusted = trustFailure(err, context.caFile);
  if (err instanceof IssuanceError) {
    const problem = problemOf(err);
    const failed = err.failures.length ? err.failures : err.identifier ? [{ identifier: err.identifier, problem }] : [];
    const who = failed.length ? failed.map((f) => f.identifier.value).join(", ") : names.join(", ");
    const challengeType = err.failures[0]?.challengeType;
    const how = challengeType ? ` (${challengeType})` : "";
    const notReady = dnsPersistNotReady(err);
    const what = untrusted
      ? untrusted
      : notReady
        ? dnsPersistWhat(notReady, names)
        : problem
          ? `${problem.kind}: ${firstLine(problem.detail || problem.message)}`
          : firstLine(err.message.replace(/^[a-z-]+: /, ""));
    const hint = untrusted ? undefined : (challengeType === "http-01" ? webrootHint(problem, context) : undefined) ?? hintFor(err, problem, { operation: "issuance", ...context });
    return `${err.step} failed for ${who || "the certificate"}${how}: ${what}${hint ? ` — ${hint}` : ""}`;
  }
  if (untrusted) return `${untrusted}${subject ? ` (${subject.slice(1)})` : ""}`;
  if (err instanceof AcmeProblem) {
    const hint = hintFor(err, err, context);
    return `the CA refused${subject}: ${err.kind}: ${firstLine(err.detail || err.message)}${hint ? ` — ${hint}` : ""}`;
  }
  if (err instanceof EdgecertError) {
    const hint = hintFor(err, problemOf(err), context);
    return `${err.code.replace(/_/g, " ")} error${subject}: ${firstLine(err.message)}${hint ? ` — ${hint}` : ""}`;
  }
  return `failed${subject}: ${firstLine(err instanceof Error ? err.message : String(err))}`;
}

/**
 * The CLI's own text for a CA whose HTTPS certificate this runtime does not trust. The library's
 * `tls_untrusted` error advises a `fetch` option and NODE_EXTRA_CA_CERTS, which are for code using
 * the library; the CLI has `--ca-file`. A `--ca-file` that was given and still did not help is a
 * different mistake (the file holds another CA), and says so.
 */
function trustFailure(err: unknown, caFile: string | undefined): string | undefined {
  let untrusted: EdgecertError | undefined;
  for (let e = err, depth = 0; e && depth < 8 && !untrusted; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof EdgecertError && e.code === "tls_untrusted") untrusted = e;
  }
  if (!untrusted) return undefined;
  const reason = untrustedTlsReason(untrusted.cause) ?? "not trusted";
  const url = /^[A-Z]+ (\S+) failed/.exec(untrusted.message)?.[1];
  const host = url ? hostOf(url) : "the CA";
  if (caFile) {
    return `the TLS certificate of ${host} is not trusted (${reason}) even with --ca-file ${caFile}: that file does not hold the root that signed ${host}'s HTTPS certificate — check it with openssl s_client -connect ${host} -CAfile ${caFile}, or check the --server URL`;
  }
  return `the TLS certificate of ${host} is not trusted (${reason}) — for a private or test CA, pass --ca-file /path/to/its-root.pem; for a public CA, check the --server URL and the system clock`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The hint for a failed http-01 validation through `--webroot`: the folder others cannot enter, or what to check. */
function webrootHint(problem: AcmeProblem | undefined, context: ErrorContext): string | undefined {
  if (!context.webroot || !problem || !WEBROOT_KINDS.has(problem.kind)) return undefined;
  if (context.webroot.problem) return context.webroot.problem;
  return `check that the web server serves ${context.webroot.dir}/.well-known/acme-challenge/ for this name and that its user can read the files there (written 0644 in 0755 folders)`;
}

/** The dns-persist-01 "records not in place" error behind `err`, if any (it sits in the cause chain). */
function dnsPersistNotReady(err: unknown): DnsPersistRecordsNotReadyError | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DnsPersistRecordsNotReadyError) return e;
  }
  return undefined;
}

/**
 * What to create for a dns-persist-01 certificate whose records are not in place. The solver's error
 * covers only the first name whose check failed (the names are checked in parallel): for `*.example.com`
 * + `example.com` that was often the apex's record, without the `policy=wildcard` the wildcard needs
 * (draft-ietf-acme-dns-persist §5.1), so following it led to a second refusal; and with two base names
 * the other record went unmentioned. The owner creates these records once by hand, so name every record
 * the certificate's names need, as `dnsPersistRecordsFor` builds them (one per base name, §4).
 */
function dnsPersistWhat(notReady: DnsPersistRecordsNotReadyError, names: readonly string[]): string {
  const { report } = notReady;
  const why = report.rejections.map((r) => r.detail).join("; ");
  let records: DnsPersistRecordToCreate[] = [report.expected];
  try {
    // The failed check's expected record carries the issuer domain name and account URI the CA asked for.
    const expected = parseDnsPersistRecord(report.expected.value);
    const dnsNames = toIdentifiers(names.length ? names : [report.name]).filter((i) => i.type === "dns").map((i) => i.value);
    const all = dnsPersistRecordsFor({ names: dnsNames, accountUri: expected.accountUri, issuerDomainName: expected.issuerDomainName });
    if (all.length > 0) records = all;
  } catch {
    // Keep the solver's own record.
  }
  const create = records.map((r) => `${r.name} TXT ${JSON.stringify(r.value)}${records.length > 1 || r.covers.length > 1 ? ` (for ${r.covers.join(", ")})` : ""}`);
  return `dns-persist-01 record for ${report.name} is ${report.status}${why ? ` (${why})` : ""}: create ${create.join(" and ")}`;
}

function hintFor(err: EdgecertError, problem: AcmeProblem | undefined, context: ErrorContext): string | undefined {
  if (problem) {
    // A definitive server status (501 Not Implemented, RFC 9110 §15.6.2; 505) says the CA lacks the
    // operation, whatever problem type it chose: asking again cannot help, and the client did not.
    const status = problem.status;
    if (status !== undefined && status >= 500 && statusRetryClass(status) === "definitive") {
      return `this CA does not implement this operation (HTTP ${status}${status === 501 ? " Not Implemented" : ""}): not retried; use another CA for it`;
    }
    const hint = (context.operation === "issuance" ? ISSUANCE_HINTS[problem.kind] : undefined) ?? ACCOUNT_HINTS[problem.kind];
    if (hint) return hint;
  }
  switch (err.code) {
    case "network":
      return `check the network and --server${context.caFile ? "" : ", and pass --ca-file for a private CA"}`;
    case "timeout":
      return "the CA or a challenge took too long: retry, and check --verbose";
    case "storage":
      return "check the permissions of --dir / --storage (and whether another edgecert holds the lock)";
    case "lease_lost":
      return "another edgecert took over the lock: check the clocks of hosts sharing --storage";
    case "unsupported_key":
      return "choose another --key-type (ec256, ec384, rsa2048)";
    default:
      return undefined;
  }
}

/** The CA's problem document(s) as JSON text, for `--verbose`; undefined when there is none. */
export function problemDocument(err: unknown): string | undefined {
  const problems: AcmeProblem[] = [];
  if (err instanceof IssuanceError) for (const f of err.failures) if (f.problem) problems.push(f.problem);
  const main = problemOf(err);
  if (main && !problems.includes(main)) problems.unshift(main);
  if (problems.length === 0) return undefined;
  return problems
    .map((p) =>
      JSON.stringify({
        type: p.type,
        detail: p.detail,
        ...(p.status !== undefined ? { status: p.status } : {}),
        ...(p.identifier ? { identifier: p.identifier } : {}),
        ...(p.subproblems.length ? { subproblems: p.subproblems } : {}),
        ...(p.instance ? { instance: p.instance } : {}),
        ...(p.url ? { url: p.url } : {}),
      }),
    )
    .join("\n");
}
