/**
 * The part `issue` and `renew` share: build the solvers and manager for one certificate, obtain or
 * renew it (or find it current), report progress, then deploy it on this host.
 * @module
 */
import { formatSerial } from "../../webcrypto/serial.ts";
import type { ManagedCertificate } from "../../manager/certificate-manager.ts";
import { buildSolvers, observeSolvers } from "../challenge-solvers.ts";
import type { CliContext } from "../context.ts";
import { deploy, type DeployOutcome } from "../deploy.ts";
import { errorLine } from "../error-message.ts";
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
  const { solvers, preferred, close } = buildSolvers(lineage.challenges, await ctx.fetch(lineage.caFile));
  let started = false;
  const manager = await ctx.manager({
    directoryUrl: lineage.directoryUrl,
    email: lineage.email,
    keyType: lineage.keyType,
    profile: lineage.profile,
    caFile: lineage.caFile,
    eab: how.eab,
    solvers: observeSolvers(solvers, progressSolverListener(ctx.sink)),
    preferred,
    onEvent: (event) => {
      if (event.type === "certificate_obtaining" && !started) {
        started = true;
        ctx.sink.emit({ type: "start", cert: lineage.name, names: lineage.names, action: how.action === "renew" ? "renewing" : "issuing" });
      }
    },
  });
  ctx.working(lineage.name);
  let certificate: ManagedCertificate;
  const signal = ctx.abort.signal;
  try {
    if (how.force) certificate = await manager.renew(lineage.names, { signal });
    else if (how.action === "renew") certificate = (await manager.maintain(lineage.names, { signal })).certificate;
    else certificate = await manager.manage(lineage.names, { signal });
  } catch (error) {
    if (started) ctx.sink.emit({ type: "end", cert: lineage.name, ok: false, message: errorLine(error, lineage.names) });
    return { obtained: started, error };
  } finally {
    ctx.working(undefined);
    await close();
  }
  if (started) ctx.sink.emit({ type: "end", cert: lineage.name, ok: true, message: `serial ${formatSerial(certificate.serialNumber)}, expires ${certificate.notAfter.toISOString()}` });
  try {
    const deployed = await deploy(ctx.dir, lineage.name, certificate, how.deployHook ?? lineage.deployHook);
    return { certificate, obtained: started, deployed };
  } catch (error) {
    return { certificate, obtained: started, error };
  }
}
