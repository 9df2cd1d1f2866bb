/**
 * `edgecert renew`: for every certificate this CLI issued (in `--storage`), renew it if due — the
 * CA's ARI window first (RFC 9773), else the lifetime rule — and deploy what changed. Each
 * certificate renews under its storage lock, so several hosts' cron jobs on one shared storage make
 * one order; the others find it done after the lock, write the files and run their own hooks.
 * @module
 */
import { formatSerial } from "../../webcrypto/serial.ts";
import type { CliContext } from "../context.ts";
import { hookFailure } from "../deploy.ts";
import { errorLine, problemDocument } from "../error-message.ts";
import { CliError, ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { listLineages, readLineage } from "../lineages.ts";
import type { ParsedFlags, RENEW_OPTIONS } from "../options.ts";
import { obtainAndDeploy } from "./obtain-and-deploy.ts";

/** One certificate's line in the renew summary. */
interface RenewEntry {
  name: string;
  names: string[];
  status: "renewed" | "not-due" | "deployed" | "failed" | "hook-failed";
  serialNumber?: string;
  notAfter?: string;
  renewAt?: string;
  error?: string;
  problem?: string | null;
}

/** Runs `renew`; returns the exit code. */
export async function renewCommand(ctx: CliContext, flags: ParsedFlags<typeof RENEW_OPTIONS>): Promise<ExitCodeValue> {
  const only = flags["cert-name"];
  const lineages = only ? [await readLineage(ctx.storage, only)].filter((l) => l !== undefined) : await listLineages(ctx.storage);
  if (only && lineages.length === 0) throw new CliError(`no certificate named ${JSON.stringify(only)} in ${ctx.storage.dir} (see edgecert list)`);
  const entries: RenewEntry[] = [];
  let exitCode: ExitCodeValue = ExitCode.ok;
  for (const lineage of lineages) {
    const outcome = await obtainAndDeploy(ctx, lineage, { force: flags.force === true, action: "renew", deployHook: flags["deploy-hook"] });
    const base = { name: lineage.name, names: lineage.names };
    if (outcome.error) {
      const line = outcome.line ?? errorLine(outcome.error, lineage.names);
      entries.push({ ...base, status: "failed", error: line, problem: problemDocument(outcome.error) ?? null });

      exitCode = ExitCode.failed;
      continue;
    }
    const cert = outcome.certificate!;
    const deployed = outcome.deployed!;
    const failure = hookFailure(lineage.name, deployed);
    const facts = { serialNumber: formatSerial(cert.serialNumber), notAfter: cert.notAfter.toISOString(), renewAt: cert.renewAt.toISOString() };
    if (failure) {
      entries.push({ ...base, ...facts, status: "hook-failed", error: failure.line });
      if (exitCode === ExitCode.ok) exitCode = ExitCode.hookFailed;
    } else {
      entries.push({ ...base, ...facts, status: outcome.obtained ? "renewed" : deployed.changed ? "deployed" : "not-due" });
    }
  }
  const count = (s: RenewEntry["status"]) => entries.filter((e) => e.status === s).length;
  const summary = `${entries.length} certificate(s): ${count("renewed")} renewed, ${count("deployed")} updated on disk, ${count("not-due")} not due, ${count("failed") + count("hook-failed")} failed`;
  ctx.result({ ok: exitCode === ExitCode.ok, command: "renew", summary, certificates: entries }, [
    ...entries.map((e) =>
      e.status === "not-due"
        ? `${e.name}: not due (renews from ${e.renewAt})`
        : e.status === "failed" || e.status === "hook-failed"
          ? `${e.name}: FAILED ${e.error}`
          : `${e.name}: ${e.status} (serial ${e.serialNumber}, expires ${e.notAfter})`,
    ),
    summary,
  ]);
  // With --quiet the summary above is not printed: failures still reach stderr. Each line once:
  // --verbose adds the CA's problem documents, not the lines again.
  if (ctx.mode.quiet) for (const e of entries) if (e.error) ctx.error(`${e.name}: ${e.error}`);
  if (ctx.mode.verbose && !ctx.mode.json) {
    ctx.view.close();
    for (const e of entries) if (e.problem) ctx.io.stderr(`${e.problem}\n`);
  }
  return exitCode;
}
