/**
 * Putting a certificate in place: the live files, then the deploy hook — only when the certificate
 * on disk changed. "Changed" is decided on this host's disk (`live/<name>` and a mark written after
 * the hook succeeded), not in the shared storage: a host whose neighbour renewed a certificate still
 * writes the new files and reloads its own server, and a failed hook runs again on the next run.
 * @module
 */
import type { ManagedCertificate } from "../manager/certificate-manager.ts";
import { formatSerial } from "../webcrypto/serial.ts";
import { ExitCode } from "./exit-codes.ts";
import { isDeployed, markDeployed, writeLive, livePaths, type LivePaths } from "./live-files.ts";
import { runShell } from "./shell-hooks.ts";

/** What {@link deploy} did. */
export interface DeployOutcome {
  changed: boolean;
  paths: LivePaths;
  /** Set when a hook ran. */
  hook?: { ok: boolean; code: number | null; tail: string };
}

const HOOK_TIMEOUT_MS = 300_000;

/** Writes `certificate` under `dir/live/name` and runs `hook` if it changed there. */
export async function deploy(dir: string, name: string, certificate: ManagedCertificate, hook: string | undefined): Promise<DeployOutcome> {
  if (await isDeployed(dir, name, certificate.serialNumber)) return { changed: false, paths: livePaths(dir, name) };
  const paths = await writeLive(dir, name, { chainPem: certificate.chainPem, keyPem: certificate.keyPem, serialNumber: certificate.serialNumber });
  const outcome: DeployOutcome = { changed: true, paths };
  if (hook) {
    const result = await runShell(hook, {
      timeoutMs: HOOK_TIMEOUT_MS,
      env: {
        EDGECERT_CERT_NAME: name,
        EDGECERT_DOMAINS: certificate.names.join(" "),
        EDGECERT_CERT_PATH: paths.cert,
        EDGECERT_CHAIN_PATH: paths.chain,
        EDGECERT_FULLCHAIN_PATH: paths.fullchain,
        EDGECERT_KEY_PATH: paths.privkey,
        // As `openssl x509 -noout -serial` prints it, so hooks can compare.
        EDGECERT_SERIAL: formatSerial(certificate.serialNumber),
        EDGECERT_NOT_AFTER: certificate.notAfter.toISOString(),
        // certbot's names, so existing hooks keep working.
        RENEWED_LINEAGE: paths.dir,
        RENEWED_DOMAINS: certificate.names.join(" "),
      },
    });
    outcome.hook = { ok: result.code === 0, code: result.code, tail: result.tail };
    // Not marked: the hook runs again next time, until it succeeds.
    if (result.code !== 0) return outcome;
  }
  await markDeployed(dir, name, certificate.serialNumber);
  return outcome;
}

/** The exit code and message for a failed hook. */
export function hookFailure(name: string, outcome: DeployOutcome): { exitCode: number; line: string } | undefined {
  if (!outcome.hook || outcome.hook.ok) return undefined;
  return {
    exitCode: ExitCode.hookFailed,
    line: `deploy hook for ${name} exited ${outcome.hook.code ?? "(killed)"}${outcome.hook.tail ? `: ${outcome.hook.tail}` : ""} — the certificate is saved; the hook runs again on the next issue/renew`,
  };
}
