import type { KeyAlgorithmName } from "../src/webcrypto/keys.ts";
import type { EncryptionSecret } from "../src/storage/encrypted-storage.ts";
import type { Env } from "./env.ts";
import { parseCaLimits, type CaLimits } from "../src/budget/ca-limits.ts";
import { readWebhookConfig, type WebhookConfig } from "./hub/webhook-config.ts";

const KEY_TYPES: readonly KeyAlgorithmName[] = ["ES256", "ES384", "RS256", "EdDSA"];
/** Most certificates one tick may claim: with a cron every minute, 14.4 million a day of capacity. */
const MAX_RENEW_BATCH = 10_000;
/**
 * Most orders BUDGET_QUEUE_MAX lets wait in the CA budget's queue: each holds ~1.9 KB of the queue's
 * memory (docs/performance.md), 38 MB at this bound, under Workers' 128 MB an isolate.
 */
const MAX_QUEUE = 20_000;
/** Most certificates one dispatcher invocation renews: one subrequest each, under the paid plan's 1000. */
const MAX_RENEW_CHUNK = 900;
/**
 * Most chunks one tick may dispatch: the cron invocation makes one subrequest per chunk plus 2 (claim,
 * record), under the paid plan's 1000 (https://developers.cloudflare.com/workers/platform/limits/#subrequests).
 */
const MAX_TICK_CHUNKS = 990;
/** 256 bits: an AES-256 key's worth of secret (`openssl rand -base64 32`). */
const MIN_KEY_BYTES = 32;
/** Key id the Worker sealed with before key ids named the secret (kept readable after upgrading). */
const LEGACY_KEY_ID = "1";

/** A variable or secret that is missing or malformed: the admin API answers 503 naming it. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** How storage is sealed: the current secret (absent when turning encryption off) and the ones still opened. */
export interface EncryptionConfig {
  secret?: string;
  keyId?: string;
  previousSecrets: EncryptionSecret[];
  /**
   * Migration mode (`STORAGE_ENCRYPTION_READ_CLEAR = "true"`): records stored in clear, written before
   * encryption was on, are read and resealed. Off, a clear record under a sealed prefix is refused.
   */
  readClearValues: boolean;
}

/** dns-01 through the Cloudflare DNS API (src/dns), when CLOUDFLARE_API_TOKEN is set. */
export interface CloudflareDnsConfig {
  apiToken: string;
  zoneId?: string;
  apiBaseUrl?: string;
  /** DoH resolvers for the propagation check; undefined: the solver's defaults. */
  resolvers?: string[];
}

/** The Worker's configuration, validated. */
export interface WorkerConfig {
  directoryUrl: string;
  /** ACME_TERMS_OF_SERVICE_AGREED="true": the operator agreed to the CA's terms (RFC 8555 §7.3). */
  termsOfServiceAgreed: boolean;
  keyType: KeyAlgorithmName;
  /** RENEW_BATCH: most due certificates one cron tick claims. */
  renewBatch: number;
  /** RENEW_CHUNK: certificates one dispatcher invocation renews (its subrequests). */
  renewChunk: number;
  /** undefined: no encryption at rest. */
  encryption: EncryptionConfig | undefined;
  /** undefined: no dns-01 solver. */
  cloudflare: CloudflareDnsConfig | undefined;
  /** DoH resolver of dns-persist-01, when configured. */
  dnsPersistResolver: string | undefined;
  /** Challenge types this Worker can answer: http-01 always, dns-01 and dns-persist-01 when configured. */
  challenges: string[];
  /** How the webhook outbox retries (workers/hub/webhook-config.ts). */
  webhooks: WebhookConfig;
  /** CA_LIMITS: the CA's limits as a fleet-wide budget; undefined: the CA's published ones (caLimitsFor). */
  caLimits: CaLimits | undefined;
  /** BUDGET_QUEUE_MAX: most orders waiting in the CA budget's queue before ticks hold first issuances back. */
  queueMax: number;
}

/** A var or secret as an operator set it: blank (or whitespace only) counts as unset. */
export function setting(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** The admin token, when one is configured (blank is unset: it would open the API to `Bearer `). */
export function adminToken(env: Env): string | undefined {
  return setting(env.ADMIN_TOKEN);
}

/** Shortest admin token accepted: `openssl rand -hex 32` gives 64 characters, `-base64 32` 44. */
const MIN_ADMIN_TOKEN_CHARS = 32;
/** Fewer distinct characters than this is a pattern, not random data (64 random hex digits show ~16). */
const MIN_ADMIN_TOKEN_DISTINCT = 10;
/** Placeholder words: the value from .dev.vars.example, or one like it, is not a secret. */
const EXAMPLE_TOKEN = /change[-_ ]?me|example|placeholder|password|your[-_ ]?(?:admin[-_ ]?)?token|long[-_ ]random/i;

/**
 * The admin token's strength rule, as {@link checkKey} is the storage key's: it guards every
 * certificate's private key (`?include=privateKey`), so a short, patterned or example value is a
 * configuration error, never a working sign-in.
 */
export function checkAdminToken(value: string): void {
  const rule = `must be at least ${MIN_ADMIN_TOKEN_CHARS} characters of random data without spaces, not an example value (generate one with: openssl rand -hex 32)`;
  if (value.length < MIN_ADMIN_TOKEN_CHARS || /\s/.test(value) || new Set(value).size < MIN_ADMIN_TOKEN_DISTINCT || EXAMPLE_TOKEN.test(value)) {
    throw new ConfigError("ADMIN_TOKEN", rule);
  }
}

/** Bytes of secret a key carries: base64 (standard or url) or hex; anything else is refused. */
function keyBytes(value: string): number | undefined {
  if (/^(?:[0-9a-fA-F]{2})+$/.test(value)) return value.length / 2;
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return Math.floor((value.replace(/=+$/, "").length * 6) / 8);
  return undefined;
}

function checkKey(variable: string, value: string, minBytes: number): void {
  const bytes = keyBytes(value);
  if (bytes === undefined || bytes < minBytes) {
    throw new ConfigError(variable, `must be at least ${minBytes * 8} bits of random data, base64 or hex (generate one with: openssl rand -base64 32)`);
  }
}

/** Key id of a secret: a short digest, so values name the secret that sealed them and rotation can tell them apart. */
async function keyIdOf(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`edgecert worker key id\0${secret}`)));
  return "k" + Array.from(digest.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The storage encryption setting. `STORAGE_ENCRYPTION_KEY` turns it on; over records written in clear
 * before, with `STORAGE_ENCRYPTION_READ_CLEAR="true"` (migration mode: they are read, and sealed on
 * their next write or by `POST /admin/storage/reseal`) until the reseal says none is left;
 * `STORAGE_ENCRYPTION_KEY_PREVIOUS` keeps the old key readable during a rotation; turning it off takes
 * `STORAGE_ENCRYPTION="off"` with the old key as PREVIOUS, so a secret deleted by mistake is an error,
 * not a silent switch to clear text.
 */
async function encryptionConfig(env: Env): Promise<EncryptionConfig | undefined> {
  const mode = setting(env.STORAGE_ENCRYPTION)?.toLowerCase();
  const readClear = setting(env.STORAGE_ENCRYPTION_READ_CLEAR)?.toLowerCase();
  if (readClear !== undefined && readClear !== "true" && readClear !== "false") {
    throw new ConfigError("STORAGE_ENCRYPTION_READ_CLEAR", 'must be "true" (read and reseal records written in clear before encryption was on) or empty');
  }
  const readClearValues = readClear === "true";
  if (mode !== undefined && mode !== "on" && mode !== "off") throw new ConfigError("STORAGE_ENCRYPTION", 'must be "on" (the default when STORAGE_ENCRYPTION_KEY is set) or "off"');
  const key = setting(env.STORAGE_ENCRYPTION_KEY);
  const previous = setting(env.STORAGE_ENCRYPTION_KEY_PREVIOUS);
  if (key) checkKey("STORAGE_ENCRYPTION_KEY", key, MIN_KEY_BYTES);
  // The previous key only opens: the 16-character keys accepted before are still readable for the migration.
  if (previous && previous.length < 16) throw new ConfigError("STORAGE_ENCRYPTION_KEY_PREVIOUS", "must be the key used before (at least 16 characters)");
  if (key && previous && key === previous) throw new ConfigError("STORAGE_ENCRYPTION_KEY_PREVIOUS", "is the same as STORAGE_ENCRYPTION_KEY");
  if (mode === "off") {
    if (key) throw new ConfigError("STORAGE_ENCRYPTION", '"off" with STORAGE_ENCRYPTION_KEY set: move the key to STORAGE_ENCRYPTION_KEY_PREVIOUS to turn encryption off');
    if (!previous) throw new ConfigError("STORAGE_ENCRYPTION_KEY_PREVIOUS", 'must hold the key in use when STORAGE_ENCRYPTION is "off", so sealed records can still be read');
    return { previousSecrets: [{ keyId: await keyIdOf(previous), secret: previous }, { keyId: LEGACY_KEY_ID, secret: previous }], readClearValues: true };
  }
  if (!key) {
    if (previous || mode === "on") throw new ConfigError("STORAGE_ENCRYPTION_KEY", 'is not set: set it (openssl rand -base64 32), or STORAGE_ENCRYPTION="off" with the old key as STORAGE_ENCRYPTION_KEY_PREVIOUS to turn encryption off');
    return undefined;
  }
  const previousSecrets: EncryptionSecret[] = previous ? [{ keyId: await keyIdOf(previous), secret: previous }] : [];
  // Values sealed before key ids named the secret carry id "1": the previous key's if rotating, else this one's.
  previousSecrets.push({ keyId: LEGACY_KEY_ID, secret: previous ?? key });
  return { secret: key, keyId: await keyIdOf(key), previousSecrets, readClearValues };
}

function isHttpUrl(value: string): boolean {
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** The var `name`, a whole number from 1 to `max` (`fallback` when unset); a {@link ConfigError} naming it otherwise. */
function wholeNumber(env: Env, name: "RENEW_BATCH" | "RENEW_CHUNK" | "BUDGET_QUEUE_MAX", fallback: number, max: number): number {
  const text = setting(env[name]);
  const value = text === undefined ? fallback : /^[0-9]{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= max)) throw new ConfigError(name, `must be a whole number from 1 to ${max}`);
  return value;
}

/** Validates every var and secret the Worker reads; throws {@link ConfigError} naming the first bad one. */
export async function readConfig(env: Env): Promise<WorkerConfig> {
  const directoryUrl = setting(env.ACME_DIRECTORY_URL);
  if (!directoryUrl || !isHttpUrl(directoryUrl)) throw new ConfigError("ACME_DIRECTORY_URL", "must be the CA's directory URL (https://…)");
  const agreed = setting(env.ACME_TERMS_OF_SERVICE_AGREED)?.toLowerCase();
  if (agreed !== undefined && agreed !== "true" && agreed !== "false") throw new ConfigError("ACME_TERMS_OF_SERVICE_AGREED", 'must be "true" (you agree to the CA\'s terms of service) or "false"');
  const keyType = (setting(env.KEY_TYPE) ?? "ES256") as KeyAlgorithmName;
  if (!KEY_TYPES.includes(keyType)) throw new ConfigError("KEY_TYPE", `must be one of ${KEY_TYPES.join(", ")}`);
  const renewBatch = wholeNumber(env, "RENEW_BATCH", 250, MAX_RENEW_BATCH);
  const renewChunk = wholeNumber(env, "RENEW_CHUNK", 25, MAX_RENEW_CHUNK);
  if (Math.ceil(renewBatch / renewChunk) > MAX_TICK_CHUNKS) {
    throw new ConfigError("RENEW_CHUNK", `RENEW_BATCH / RENEW_CHUNK must be at most ${MAX_TICK_CHUNKS} chunks a tick (one subrequest each): raise RENEW_CHUNK or lower RENEW_BATCH`);
  }
  const resolver = setting(env.DNS_PERSIST_RESOLVER);
  if (resolver && !isHttpUrl(resolver)) throw new ConfigError("DNS_PERSIST_RESOLVER", "must be a DoH resolver URL (https://…, RFC 8484)");
  const profile = setting(env.ACME_PROFILE);
  if (profile && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(profile)) throw new ConfigError("ACME_PROFILE", "must be a profile name the CA lists (e.g. shortlived)");
  const cloudflare = cloudflareConfig(env);
  const challenges = ["http-01", ...(cloudflare ? ["dns-01"] : []), ...(resolver ? ["dns-persist-01"] : [])];
  const caLimits = caLimitsConfig(setting(env.CA_LIMITS));
  const queueMax = wholeNumber(env, "BUDGET_QUEUE_MAX", 5000, MAX_QUEUE);
  // The CA budget reads the Public Suffix List from the Worker's static assets (workers/public-suffix-source.ts).
  if (!(env as { ASSETS?: unknown }).ASSETS) throw new ConfigError("ASSETS", "the binding is missing: the Public Suffix List the CA budget counts registered domains by is one of the Worker's static assets; keep wrangler.toml's [assets] section");
  return { directoryUrl, termsOfServiceAgreed: agreed === "true", keyType, renewBatch, renewChunk, encryption: await encryptionConfig(env), cloudflare, dnsPersistResolver: resolver, challenges, webhooks: readWebhookConfig(env), caLimits, queueMax };
}

/** CA_LIMITS as parseCaLimits reads it (e.g. `orders=300/3h,domain=50/7d,nameset=5/7d`, or `none`). */
function caLimitsConfig(text: string | undefined): CaLimits | undefined {
  if (text === undefined) return undefined;
  try {
    return parseCaLimits(text);
  } catch (err) {
    throw new ConfigError("CA_LIMITS", `${err instanceof Error ? err.message.replace(/^CA limits: /, "") : String(err)}; e.g. orders=300/3h,domain=50/7d,nameset=5/7d, or none`);
  }
}

function cloudflareConfig(env: Env): CloudflareDnsConfig | undefined {
  const apiToken = setting(env.CLOUDFLARE_API_TOKEN);
  const zoneId = setting(env.CLOUDFLARE_ZONE_ID);
  const apiBaseUrl = setting(env.CLOUDFLARE_API_BASE_URL);
  const resolvers = setting(env.DNS_PROPAGATION_RESOLVERS)?.split(",").map((r) => r.trim()).filter(Boolean);
  if (!apiToken) {
    const orphan = zoneId ? "CLOUDFLARE_ZONE_ID" : apiBaseUrl ? "CLOUDFLARE_API_BASE_URL" : undefined;
    if (orphan) throw new ConfigError(orphan, "is set but CLOUDFLARE_API_TOKEN is not: dns-01 needs the token (wrangler secret put CLOUDFLARE_API_TOKEN)");
    return undefined;
  }
  if (!/^[\x21-\x7e]{20,200}$/.test(apiToken)) throw new ConfigError("CLOUDFLARE_API_TOKEN", "must be a Cloudflare API token (Zone → DNS → Edit)");
  // Cloudflare zone ids are 32 hex digits.
  if (zoneId && !/^[0-9a-f]{32}$/.test(zoneId)) throw new ConfigError("CLOUDFLARE_ZONE_ID", "must be a zone id (32 hex digits, from the zone's Overview page)");
  if (apiBaseUrl && !isHttpUrl(apiBaseUrl)) throw new ConfigError("CLOUDFLARE_API_BASE_URL", "must be an https:// URL");
  if (resolvers && !resolvers.every(isHttpUrl)) throw new ConfigError("DNS_PROPAGATION_RESOLVERS", "must be comma-separated DoH resolver URLs (https://…, RFC 8484)");
  return { apiToken, ...(zoneId ? { zoneId } : {}), ...(apiBaseUrl ? { apiBaseUrl } : {}), ...(resolvers?.length ? { resolvers } : {}) };
}
