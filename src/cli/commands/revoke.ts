/**
 * `edgecert revoke`: revoke at the CA (RFC 8555 §7.6, signed by the account) and forget the
 * certificate, so `renew` no longer renews it.
 * @module
 */
import { formatSerial } from "../../webcrypto/serial.ts";
import { RevocationReason, type RevocationReasonCode } from "../../acme/types.ts";
import type { CliContext } from "../context.ts";
import { CliError, ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { defaultCertName, removeLive } from "../live-files.ts";
import { deleteLineage, lineagesSharing, listLineages, readLineage } from "../lineages.ts";
import type { ParsedFlags, REVOKE_OPTIONS } from "../options.ts";

/** Runs `revoke`; returns the exit code. */
export async function revokeCommand(ctx: CliContext, flags: ParsedFlags<typeof REVOKE_OPTIONS>): Promise<ExitCodeValue> {
  const reason = parseReason(flags.reason);
  let lineage = flags["cert-name"] ? await readLineage(ctx.storage, flags["cert-name"]) : undefined;
  if (!lineage && flags.domain?.length) {
    const wanted = new Set(flags.domain.map((d) => d.toLowerCase()));
    lineage = (await listLineages(ctx.storage)).find((l) => l.names.length === wanted.size && l.names.every((n) => wanted.has(n)));
    lineage ??= await readLineage(ctx.storage, defaultCertName(flags.domain));
  }
  if (!flags["cert-name"] && !flags.domain?.length) throw new CliError("edgecert revoke needs --cert-name NAME or -d NAME (see edgecert list)");
  if (!lineage) throw new CliError(`no certificate ${flags["cert-name"] ?? flags.domain!.join(", ")} in ${ctx.storage.dir} (see edgecert list)`);
  const manager = await ctx.manager({ directoryUrl: lineage.directoryUrl, email: lineage.email, caFile: lineage.caFile });
  const current = await manager.find(lineage.names);
  // Certificate names an older edgecert let share this one's record (and key): they serve the same
  // certificate, so they go with it rather than keep serving a revoked one.
  const sharing = await lineagesSharing(ctx.storage, lineage.names, lineage.name);
  if (current) await manager.revoke(lineage.names, reason);
  for (const gone of [lineage, ...sharing]) {
    await deleteLineage(ctx.storage, gone.name);
    if (!flags["keep-files"]) await removeLive(ctx.dir, gone.name);
  }
  const also = sharing.map((l) => l.name);
  const alsoText = also.length ? ` ${also.join(", ")} shared this certificate and key; removed ${also.length > 1 ? "them" : "it"} too.` : "";
  ctx.result(
    { ok: true, command: "revoke", name: lineage.name, names: lineage.names, revoked: current !== undefined, serialNumber: current ? formatSerial(current.serialNumber) : null, reason: reason ?? 0, alsoRemoved: also },
    [(current ? `Revoked ${lineage.name} (serial ${formatSerial(current.serialNumber)}) and removed it.` : `${lineage.name} had no stored certificate; removed it.`) + alsoText],
  );
  return ExitCode.ok;
}

function parseReason(value: string | undefined): RevocationReasonCode | undefined {
  if (value === undefined) return undefined;
  const table = RevocationReason as Readonly<Record<string, RevocationReasonCode>>;
  const found = Object.keys(table).find((k) => k.toLowerCase() === value.toLowerCase());
  if (!found) throw new CliError(`--reason ${JSON.stringify(value)} is not one of ${Object.keys(table).join(", ")}`);
  return table[found];
}
