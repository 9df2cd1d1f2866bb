/**
 * The part `issue` and `renew` share: build the solvers and manager for one certificate, obtain or
 * renew it (or find it current), report progress, then deploy it on this host.
 * @module
 */
import { queueText } from "../queue-text.ts";
import { formatSerial } from "../../webcrypto/serial.ts";
import type { CertificateManager, ManagedCertificate } from "../../manager/certificate-manager.ts";
import type { ManagerEvent } from "../../manager/events.ts";
import { buildSolvers, observeSolvers, webrootPermissionProblem } from "../challenge-solvers.ts";
import type { CliContext } from "../context.ts";
import { deploy, type DeployOutcome } from "../deploy.ts";
import { errorLine, type ErrorContext } from "../error-message.ts";
import type { Lineage } from "../lineages.ts";
import { progressSolverListener } from "../progress-source.ts";

/** What happened to one certificate. */
export interface ObtainOutcome {
  /** The certificate now stored (absent on failure). */
  certificate?: ManagedCertificate;
  /** A new certificate was obtained from the CA in this run. */
  obtained: boolean;
  deployed?: DeployOutcome;
  error?: unknown;
  /** The one line that reports `error` (printed once, by the command). */
  line?: string;
}

/** How to treat the stored certificate. */
export interface ObtainHow {
  /** Obtain a new one even if the current one is not due. */
  force: boolean;
  action: "issue" | "renew";
  eab?: { kid: string; hmacKey: string } | undefined;
  /** Overrides the lineage's deploy hook. */
  deployHook?: string | undefined;
}

/** Obtains/renews `lineage` if needed (under the storage lock) and deploys it. Never throws for CA failures. */
export async function obtainAndDeploy(ctx: CliContext, lineage: Lineage, how: ObtainHow): Promise<ObtainOutcome> {
  const { solvers, preferred, bind, close } = buildSolvers(lineage.challenges, await ctx.fetch(lineage.caFile));
  let started = false;
  // Ports are bound once an order is decided on (certificate_obtaining, before its first request) and
  // before that request goes out: a busy port costs no order at the CA. Nothing due binds nothing.
  let bound: Promise<void> | undefined;
  let bindError: unknown;
  // Aborting stops the manager at once: a refused request would otherwise be retried as a network error.
  const portFailed = new AbortController();
  const beforeRequest = async () => {
    if (!bound) return;
    try {
      await bound;
    } catch (err) {
      bindError ??= err;
      portFailed.abort(err);
      throw err;
    }
  };
  const manager = await ctx.manager({
    directoryUrl: lineage.directoryUrl,
    email: lineage.email,
    keyType: lineage.keyType,
    profile: lineage.profile,
    caFile: lineage.caFile,
    eab: how.eab,
    solvers: observeSolvers(solvers, progressSolverListener(ctx.sink)),
    preferred,
    beforeRequest,
    onEvent: (event) => {
      // Waiting for the CA's limits (before any request): where in the fleet's queue, and until when.
      if (event.type === "certificate_queued" && event.estimatedAt) void queuedNote(ctx, lineage.name, manager, event);
      if (event.type === "certificate_obtaining" && !bound) {
        bound = bind();
        // Handled where awaited (beforeRequest); never an unhandled rejection meanwhile.
        bound.catch(() => undefined);
      }
      if (event.type === "certificate_obtaining" && !started) {
        started = true;
        ctx.sink.emit({ type: "start", cert: lineage.name, names: lineage.names, action: how.action === "renew" ? "renewing" : "issuing" });
      }
    },
  });
  ctx.working(lineage.name);
  let certificate: ManagedCertificate;
  const signal = AbortSignal.any([ctx.abort.signal, portFailed.signal]);
  try {
    if (how.force) certificate = await manager.renew(lineage.names, { signal });
    else if (how.action === "renew") certificate = (await manager.maintain(lineage.names, { signal })).certificate;
    else certificate = await manager.manage(lineage.names, { signal });
  } catch (caught) {
    // A port that could not be bound is the failure, whatever the manager made of the refused request.
    const error = bindError ?? caught;
    // The progress marks the end only: the command prints the failure's line once, after it.
    if (started) ctx.sink.emit({ type: "end", cert: lineage.name, ok: false, message: "" });
    return { obtained: started, error, line: errorLine(error, lineage.names, await errorContext(lineage)) };
  } finally {
    ctx.working(undefined);
    await close();
  }
  if (started) ctx.sink.emit({ type: "end", cert: lineage.name, ok: true, message: `serial ${formatSerial(certificate.serialNumber)}, expires ${certificate.notAfter.toISOString()}` });
  try {
    const deployed = await deploy(ctx.dir, lineage.name, certificate, how.deployHook ?? lineage.deployHook);
    return { certificate, obtained: started, deployed };
  } catch (error) {
    return { certificate, obtained: started, error, line: errorLine(error, lineage.names, await errorContext(lineage)) };
  }
}

/**
 * The progress note of a certificate that waits for the CA's limits: its place in the whole fleet's
 * queue (other processes' orders included) when that can be read, else what this process knows.
 */
async function queuedNote(ctx: CliContext, cert: string, manager: CertificateManager, event: ManagerEvent): Promise<void> {
  const fleet = await manager.queuedInFleet().catch(() => undefined);
  const mine = fleet?.orders.find((q) => q.id === event.id);
  const from = mine ?? { estimatedAt: event.estimatedAt!.getTime(), blockedBy: event.blockedBy };
  const text = {
    ...(mine ? { position: mine.position, total: fleet!.total } : {}),
    estimatedAt: from.estimatedAt,
    ...(from.blockedBy ? { blockedBy: { kind: from.blockedBy.kind, subject: from.blockedBy.subject } } : {}),
  };
  ctx.sink.emit({ type: "note", cert, message: queueText(text, ctx.now()) });
}

/** What a failure of `lineage` is reported against: issuance, its --ca-file, and its --webroot's permissions. */
async function errorContext(lineage: Lineage): Promise<ErrorContext> {
  const root = lineage.challenges.webroot;
  return {
    operation: "issuance",
    caFile: lineage.caFile,
    ...(root ? { webroot: { dir: root, problem: await webrootPermissionProblem(root) } } : {}),
  };
}
