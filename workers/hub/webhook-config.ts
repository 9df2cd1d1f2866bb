/**
 * How the outbox retries: `WEBHOOK_RETRY_SCHEDULE` (the waits between attempts) and
 * `WEBHOOK_TIMEOUT_SECONDS` (how long one attempt may take), and `WEBHOOK_ALLOW_PRIVATE_URLS` (which
 * URLs may receive them, ./webhook-url.ts), validated like every other variable.
 * @module
 */
import { ConfigError, setting } from "../config.ts";
import type { Env } from "../env.ts";

/**
 * The default waits after attempts 1, 2, …: Standard Webhooks' example schedule (exponential, about
 * three days in all), so a receiver down for a weekend still gets every event.
 */
export const DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,14h,20h,24h";
/** Standard Webhooks recommends 15 to 30 s for an attempt. */
const DEFAULT_TIMEOUT_SECONDS = 15;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest wait honoured, from the schedule or a `Retry-After`. */
export const MAX_RETRY_WAIT_MS = 86_400_000;

/** The outbox's retry policy. */
export interface WebhookConfig {
  /** Waits (ms) before attempt 2, 3, …; attempts in all: its length + 1. */
  retryDelaysMs: number[];
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE_URLS="true": http:// and loopback, private and link-local addresses allowed (./webhook-url.ts). */
  allowPrivateUrls: boolean;
}

/** Reads the webhook variables; throws {@link ConfigError} naming a malformed one. */
export function readWebhookConfig(env: Env): WebhookConfig {
  const text = setting(env.WEBHOOK_RETRY_SCHEDULE) ?? DEFAULT_RETRY_SCHEDULE;
  const parts = text.split(",").map((p) => p.trim());
  const retryDelaysMs = parts.map((p) => {
    const m = /^([0-9]{1,5})([smhd])$/.exec(p);
    return m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  });
  if (parts.length > 20 || !retryDelaysMs.every((d) => d >= 1000 && d <= MAX_RETRY_WAIT_MS)) {
    throw new ConfigError("WEBHOOK_RETRY_SCHEDULE", `must be up to 20 comma-separated waits from 1s to 24h, like ${DEFAULT_RETRY_SCHEDULE}`);
  }
  const timeoutText = setting(env.WEBHOOK_TIMEOUT_SECONDS) ?? String(DEFAULT_TIMEOUT_SECONDS);
  const timeout = /^[0-9]{1,2}$/.test(timeoutText) ? Number(timeoutText) : NaN;
  if (!(timeout >= 1 && timeout <= 60)) throw new ConfigError("WEBHOOK_TIMEOUT_SECONDS", "must be a whole number of seconds from 1 to 60");
  const allow = setting(env.WEBHOOK_ALLOW_PRIVATE_URLS)?.toLowerCase();
  if (allow !== undefined && allow !== "true" && allow !== "false") throw new ConfigError("WEBHOOK_ALLOW_PRIVATE_URLS", 'must be "true" (webhooks may go to http:// and loopback or private addresses: local development only) or "false"');
  return { retryDelaysMs, timeoutMs: timeout * 1000, allowPrivateUrls: allow === "true" };
}
