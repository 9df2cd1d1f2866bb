/**
 * Webhook signatures in the Standard Webhooks scheme (standardwebhooks.com, spec v1.0.0, symmetric
 * `v1`): HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the bytes of a
 * `whsec_`-prefixed base64 secret, sent as `webhook-signature: v1,<base64>` (a space-separated list,
 * so a rotation can send one signature per secret). The Worker signs with these; a receiver on any
 * runtime verifies with {@link verifyWebhook}.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { base64Decode, base64Encode } from "../webcrypto/base64url.ts";
import { toArrayBuffer } from "../webcrypto/bytes.ts";

/** Prefix of a symmetric signing secret (Standard Webhooks, "Secret serialization"). */
export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** Bytes of a new secret: the scheme asks for at least 24 (192 bits) and at most 64. */
const SECRET_BYTES = 32;
/** How far a `webhook-timestamp` may be from the receiver's clock by default (replay window). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The three headers of a signed delivery. */
export interface WebhookHeaders {
  /** The event's id, the same on every attempt: the receiver's idempotency key. */
  "webhook-id": string;
  /** When this attempt was signed, in unix seconds. */
  "webhook-timestamp": string;
  /** `v1,<base64 HMAC>`, space-separated when signed with more than one secret. */
  "webhook-signature": string;
}

/** A new random signing secret, `whsec_` + base64 of 32 bytes. */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + base64Encode(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

async function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  let bytes: Uint8Array;
  try {
    bytes = base64Decode(encoded);
  } catch (err) {
    throw new EdgecertError("invalid_input", "webhook secret is not whsec_ followed by base64", { cause: err });
  }
  if (bytes.length < 24 || bytes.length > 64) throw new EdgecertError("invalid_input", `webhook secret must hold 24 to 64 bytes, not ${bytes.length}`);
  return crypto.subtle.importKey("raw", toArrayBuffer(bytes), { name: "HMAC", hash: "SHA-256" }, false, [usage]);
}

/** What is signed. The id and timestamp must not contain `.` (the scheme's delimiter). */
function signedContent(id: string, timestamp: string, body: string): ArrayBuffer {
  return toArrayBuffer(new TextEncoder().encode(`${id}.${timestamp}.${body}`));
}

/**
 * Signs one delivery attempt: the headers to send with `body` (exactly these bytes must be sent).
 * `secrets`: the current secret first; more than one during a rotation (one `v1` signature each).
 */
export async function signWebhook(secrets: string | readonly string[], id: string, timestampSeconds: number, body: string): Promise<WebhookHeaders> {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw new EdgecertError("invalid_input", "webhook id must be 1-100 characters of [A-Za-z0-9_-]");
  const timestamp = String(Math.floor(timestampSeconds));
  const list = typeof secrets === "string" ? [secrets] : secrets;
  const signatures = await Promise.all(
    list.map(async (s) => `v1,${base64Encode(new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(s, "sign"), signedContent(id, timestamp, body))))}`),
  );
  return { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signatures.join(" ") };
}

/** How a received delivery is checked. */
export interface VerifyWebhookOptions {
  /** Seconds the timestamp may differ from `now` (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock, epoch ms (default `Date.now()`). */
  now?: number;
}

/**
 * Checks a received delivery: one `v1` signature in `webhook-signature` must be the HMAC of the id,
 * timestamp and the raw `body` under `secret` (compared in constant time by WebCrypto's verify), and
 * the timestamp must be within the tolerance (replays of old deliveries are refused). Returns the
 * parsed JSON body; throws `EdgecertError("invalid_signature")` otherwise. Use `webhook-id` to
 * ignore a delivery you already processed: a retried event keeps its id.
 */
export async function verifyWebhook(secret: string, headers: Headers | Record<string, string | undefined>, body: string, options: VerifyWebhookOptions = {}): Promise<unknown> {
  const header = (name: keyof WebhookHeaders) => (headers instanceof Headers ? headers.get(name) : headers[name]) ?? undefined;
  const id = header("webhook-id");
  const timestamp = header("webhook-timestamp");
  const signature = header("webhook-signature");
  if (!id || !timestamp || !signature) throw new EdgecertError("invalid_signature", "webhook-id, webhook-timestamp and webhook-signature are required");
  if (!/^[0-9]{1,12}$/.test(timestamp)) throw new EdgecertError("invalid_signature", "webhook-timestamp is not a unix time in seconds");
  const skew = Math.abs((options.now ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) throw new EdgecertError("invalid_signature", `webhook-timestamp is ${Math.round(skew)} s from now: too old or too new`);
  const key = await hmacKey(secret, "verify");
  const content = signedContent(id, timestamp, body);
  for (const entry of signature.split(" ")) {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || !value) continue;
    let mac: Uint8Array;
    try {
      mac = base64Decode(value);
    } catch {
      continue;
    }
    if (await crypto.subtle.verify("HMAC", key, toArrayBuffer(mac), content)) {
      try {
        return JSON.parse(body) as unknown;
      } catch (err) {
        throw new EdgecertError("invalid_signature", "the signed body is not JSON", { cause: err });
      }
    }
  }
  throw new EdgecertError("invalid_signature", "no v1 signature in webhook-signature matches the body under this secret");
}
