import type { AcmeClient } from "../acme/client.ts";
import type { Logger } from "../logger.ts";
import type { CertificateInfo } from "../webcrypto/x509.ts";
import type { RenewalState } from "./records.ts";
import { renewAtFromAri, renewAtFromLifetime, spreadRenewAt, type RenewBefore } from "./renewal-schedule.ts";

const HOUR = 3_600_000;

/**
 * The renewal state of a certificate just obtained or re-checked: the lifetime rule, replaced by a
 * point inside the CA's ARI window when the CA offers renewal info (RFC 9773). Every CA call runs
 * under `signal` (a lost lease aborts it).
 */
export async function renewalStateFor(
  client: AcmeClient,
  leaf: CertificateInfo,
  context: { now: number; renewBefore: RenewBefore | undefined; signal: AbortSignal; logger: Logger },
): Promise<RenewalState> {
  const { now, signal } = context;
  const [notBefore, notAfter] = [leaf.notBefore.getTime(), leaf.notAfter.getTime()];
  const state: RenewalState = {
    renewAt: spreadRenewAt(renewAtFromLifetime(notBefore, notAfter, context.renewBefore), notBefore, notAfter, leaf.serialNumber),
    failures: 0,
  };
  const dir = await client.directory({ signal });
  if (dir.renewalInfo && leaf.authorityKeyIdentifierBytes) {
    try {
      const info = await client.renewalInfo(leaf, { signal });
      state.renewAt = renewAtFromAri(info, now);
      state.ariWindow = { start: info.suggestedWindow.start.getTime(), end: info.suggestedWindow.end.getTime() };
      state.ariCheckAt = now + (info.retryAfterMs ?? 6 * HOUR);
    } catch (err) {
      if (signal.aborted) throw err;
      // RFC 9773 §4.3: without renewal info, fall back to the lifetime rule and ask again later.
      state.ariCheckAt = now + HOUR;
      context.logger.log("warn", "manager.ari_failed", { error: String(err) });
    }
  }
  return state;
}

/**
 * `previous` updated with a fresh ARI answer: a window that did not move keeps the time already
 * chosen inside it, and the failure state is kept as it is (one owner: the issuance path).
 */
export function mergeRenewal(previous: RenewalState, fresh: RenewalState): RenewalState {
  const merged: RenewalState = { ...previous, ...fresh };
  if (previous.ariWindow && fresh.ariWindow && previous.ariWindow.start === fresh.ariWindow.start && previous.ariWindow.end === fresh.ariWindow.end) {
    merged.renewAt = previous.renewAt;
  }
  merged.failures = previous.failures;
  if (previous.nextAttemptAt !== undefined) merged.nextAttemptAt = previous.nextAttemptAt;
  if (previous.lastError !== undefined) merged.lastError = previous.lastError;
  return merged;
}
