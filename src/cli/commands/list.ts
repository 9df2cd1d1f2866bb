/**
 * `edgecert list`: names, expiry, next renewal and the last error of every certificate, and where
 * each waits in the queue for the CA's limits (every process sharing the storage), from local state
 * only (no request to any CA).
 * @module
 */
import { formatSerial } from "../../webcrypto/serial.ts";
import type { CertificateRecord } from "../../manager/records.ts";
import { keys } from "../../manager/storage-keys.ts";
import type { CliContext } from "../context.ts";
import { ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { lineageCertificateId, listLineages, type Lineage } from "../lineages.ts";
import { queueText } from "../queue-text.ts";
import { livePaths } from "../live-files.ts";

/** A queued order as `list --json` shows it. */
interface QueueView {
  position: number;
  /** Orders waiting for this CA's limits in all (every process sharing the storage). */
  of: number;
  estimatedAt: string;
  renewal: boolean;
  /** `renewal`, `first` (issuance) or `retry` (a further newOrder of an issuance under way, waiting with the renewals). */
  kind: "renewal" | "first" | "retry";
  /** The bucket that holds it back now: its limit, what it counts, and when it holds a token again. */
  blockedBy: { kind: "orders" | "domain" | "nameset"; subject: string; until: string } | null;
}

/**
 * The orders waiting for each CA's limits in the storage's fleet queue (any process: a `renew` from
 * cron, another host), by certificate id; read from storage, no request to the CA.
 */
async function fleetQueues(ctx: CliContext, lineages: readonly Lineage[]): Promise<Map<string, QueueView & { names: readonly string[]; server: string }>> {
  const out = new Map<string, QueueView & { names: readonly string[]; server: string }>();
  for (const directoryUrl of new Set(lineages.map((l) => l.directoryUrl))) {
    // Reads the shared storage only: no request, so no --ca-file to read.
    const manager = await ctx.manager({ directoryUrl });
    const { orders, total } = await manager.queuedInFleet();
    for (const q of orders) {
      if (out.has(q.id)) continue;
      const blockedBy = q.blockedBy ? { kind: q.blockedBy.kind, subject: q.blockedBy.subject, until: new Date(q.blockedBy.retryAt).toISOString() } : null;
      out.set(q.id, { position: q.position, of: total, estimatedAt: new Date(q.estimatedAt).toISOString(), renewal: q.renewal, kind: q.kind, blockedBy, names: q.names, server: directoryUrl });
    }
  }
  return out;
}

/** Runs `list`; returns the exit code. */
export async function listCommand(ctx: CliContext): Promise<ExitCodeValue> {
  const rows = [];
  const lineages = await listLineages(ctx.storage);
  const queues = await fleetQueues(ctx, lineages);
  const now = ctx.now();
  for (const lineage of lineages) {
    const id = await lineageCertificateId(lineage.names);
    const bytes = await ctx.storage.get(keys.certificate(id));
    const record = bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as CertificateRecord) : undefined;
    const renewal = record?.renewal;
    const queued = queues.get(id);
    queues.delete(id);
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
      queue: queued ? withoutWhere(queued) : null,
    });
  }
  // Waiting first issuances (an `issue` still running: its certificate is remembered once issued).
  const pending = [...queues.values()].map((q) => ({ names: q.names, server: q.server, queue: withoutWhere(q) }));
  const days = (iso: string) => `${Math.round((Date.parse(iso) - now) / 86_400_000)} days`;
  const line = (q: QueueView) =>
    `  ${queueText({ position: q.position, total: q.of, estimatedAt: Date.parse(q.estimatedAt), ...(q.blockedBy ? { blockedBy: q.blockedBy } : {}) }, now)}${q.kind === "renewal" ? " (renewal)" : q.kind === "retry" ? " (retry: another order of an issuance under way)" : ""}`;
  ctx.result(
    { ok: true, command: "list", certificates: rows, queued: pending },
    rows.length === 0 && pending.length === 0
      ? [`No certificates in ${ctx.storage.dir} (edgecert issue -d NAME … to get one).`]
      : [
          ...rows.flatMap((r) => [
            `${r.name}: ${r.names.join(", ")}`,
            r.notAfter
              ? `  expires ${r.notAfter} (${days(r.notAfter)}), next renewal ${r.nextRenewal ?? "?"}${r.ariWindow ? " (ARI)" : ""}`
              : `  no certificate stored: edgecert renew --cert-name ${r.name} obtains one, edgecert revoke --cert-name ${r.name} forgets it`,
            ...(r.queue ? [line(r.queue)] : []),
            ...(r.lastError ? [`  last error (${r.failures} failure(s)): ${r.lastError}`] : []),
            `  ${r.path}/`,
          ]),
          ...pending.flatMap((p) => [`(being issued) ${p.names.join(", ")}`, line(p.queue)]),
        ],
  );
  return ExitCode.ok;
}

const withoutWhere = ({ names: _names, server: _server, ...q }: QueueView & { names: readonly string[]; server: string }): QueueView => q;
