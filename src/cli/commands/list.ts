/**
 * `edgecert list`: names, expiry, next renewal and the last error of every certificate, from local
 * state only (no request to any CA).
 * @module
 */
import { formatSerial } from "../../webcrypto/serial.ts";
import type { CertificateRecord } from "../../manager/records.ts";
import { keys } from "../../manager/storage-keys.ts";
import type { CliContext } from "../context.ts";
import { ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { lineageCertificateId, listLineages } from "../lineages.ts";
import { livePaths } from "../live-files.ts";

/** Runs `list`; returns the exit code. */
export async function listCommand(ctx: CliContext): Promise<ExitCodeValue> {
  const rows = [];
  for (const lineage of await listLineages(ctx.storage)) {
    const bytes = await ctx.storage.get(keys.certificate(await lineageCertificateId(lineage.names)));
    const record = bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as CertificateRecord) : undefined;
    const renewal = record?.renewal;
    rows.push({
      name: lineage.name,
      names: lineage.names,
      server: lineage.directoryUrl,
      serialNumber: record?.serialNumber ? formatSerial(record.serialNumber) : null,
      notAfter: record?.notAfter ?? null,
      nextRenewal: renewal ? new Date(Math.max(renewal.renewAt, renewal.nextAttemptAt ?? 0)).toISOString() : null,
      ariWindow: renewal?.ariWindow ? { start: new Date(renewal.ariWindow.start).toISOString(), end: new Date(renewal.ariWindow.end).toISOString() } : null,
      failures: renewal?.failures ?? 0,
      lastError: renewal?.lastError ?? null,
      path: livePaths(ctx.dir, lineage.name).dir,
    });
  }
  const now = ctx.now();
  const days = (iso: string) => `${Math.round((Date.parse(iso) - now) / 86_400_000)} days`;
  ctx.result(
    { ok: true, command: "list", certificates: rows },
    rows.length === 0
      ? [`No certificates in ${ctx.storage.dir} (edgecert issue -d NAME … to get one).`]
      : rows.flatMap((r) => [
          `${r.name}: ${r.names.join(", ")}`,
          r.notAfter
            ? `  expires ${r.notAfter} (${days(r.notAfter)}), next renewal ${r.nextRenewal ?? "?"}${r.ariWindow ? " (ARI)" : ""}`
            : `  no certificate stored: edgecert renew --cert-name ${r.name} obtains one, edgecert revoke --cert-name ${r.name} forgets it`,
          ...(r.lastError ? [`  last error (${r.failures} failure(s)): ${r.lastError}`] : []),
          `  ${r.path}/`,
        ]),
  );
  return ExitCode.ok;
}
