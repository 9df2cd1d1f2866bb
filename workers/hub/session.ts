/**
 * Dashboard sessions and CSRF tokens, derived from the admin token without storing anything.
 *
 * The session cookie is `<expiresAt>.<nonce>.<mac>` with mac = HMAC-SHA256(K, "session." expiresAt
 * "." nonce) and K = HKDF-SHA256(ADMIN_TOKEN, info "edgecert-dashboard-v1") — never the admin token
 * itself, so a leaked cookie is worth one session until it expires, and rotating ADMIN_TOKEN ends
 * every session. The CSRF token of a session is HMAC(K, "csrf." nonce): bound to that session, so a
 * token from another session (or none) is refused; actions also check `Origin` (OWASP CSRF cheat
 * sheet: synchronizer token + origin verification).
 * @module
 */
import { base64urlDecode, base64urlEncode } from "../../src/webcrypto/base64url.ts";
import { constantTimeEqual } from "../constant-time.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "edgecert_session";
/** How long a sign-in lasts. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

async function macKey(adminToken: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", new TextEncoder().encode(adminToken), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("edgecert-dashboard-v1") },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

async function mac(adminToken: string, text: string): Promise<string> {
  return base64urlEncode(new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(adminToken), new TextEncoder().encode(text))));
}

/** A new session cookie value for a signed-in admin. */
export async function newSession(adminToken: string, now: number): Promise<string> {
  const expiresAt = now + SESSION_TTL_MS;
  const nonce = base64urlEncode(crypto.getRandomValues(new Uint8Array(18)));
  return `${expiresAt}.${nonce}.${await mac(adminToken, `session.${expiresAt}.${nonce}`)}`;
}

/** The session's nonce when `cookie` is a live session signed under `adminToken`; else undefined. */
export async function verifySession(adminToken: string, cookie: string | undefined, now: number): Promise<string | undefined> {
  const m = cookie ? /^(\d{1,16})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/.exec(cookie) : null;
  if (!m || !adminToken) return undefined;
  const [, expiresAt, nonce, presented] = m as unknown as [string, string, string, string];
  const ok = await constantTimeEqual(presented, await mac(adminToken, `session.${expiresAt}.${nonce}`));
  return ok && Number(expiresAt) > now ? nonce : undefined;
}

/** The CSRF token of the session with this nonce. */
export function csrfToken(adminToken: string, nonce: string): Promise<string> {
  return mac(adminToken, `csrf.${nonce}`);
}

/** Whether `presented` is the CSRF token of the session with this nonce. */
export async function verifyCsrf(adminToken: string, nonce: string, presented: unknown): Promise<boolean> {
  return typeof presented === "string" && presented.length > 0 && constantTimeEqual(presented, await csrfToken(adminToken, nonce));
}

/** The `Set-Cookie` value: HttpOnly (no script reads it), Secure, SameSite=Strict, scoped to /admin. */
export function sessionCookie(value: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/admin; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

/** Reads one cookie from a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/** The cookie carrying the outcome of the last action to the page the browser is sent back to. */
export const NOTICE_COOKIE = "edgecert_notice";
/** A notice not shown within this long is dropped. */
const NOTICE_TTL_SECONDS = 60;

/** What an action reports: its outcome, shown once on the next page. */
export interface Notice {
  kind: "ok" | "failed";
  text: string;
}

/**
 * The notice cookie: `<kind>.<base64url text>.<mac>`, the mac binding it to the session's nonce. The
 * page shows a notice only from this cookie (the Worker set it after an action of this session), never
 * from the URL, so a crafted link cannot put words into the signed-in page.
 */
export async function noticeCookie(adminToken: string, nonce: string, notice: Notice): Promise<string> {
  const text = base64urlEncode(new TextEncoder().encode(notice.text.slice(0, 600)));
  const value = `${notice.kind}.${text}.${await mac(adminToken, `notice.${nonce}.${notice.kind}.${text}`)}`;
  return `${NOTICE_COOKIE}=${value}; Path=/admin; Max-Age=${NOTICE_TTL_SECONDS}; HttpOnly; Secure; SameSite=Strict`;
}

/** The notice in `cookie` if this session's, else undefined. */
export async function readNotice(adminToken: string, nonce: string, cookie: string | undefined): Promise<Notice | undefined> {
  const m = cookie ? /^(ok|failed)\.([A-Za-z0-9_-]{0,1000})\.([A-Za-z0-9_-]{43})$/.exec(cookie) : null;
  if (!m) return undefined;
  const [, kind, text, presented] = m as unknown as [string, Notice["kind"], string, string];
  if (!(await constantTimeEqual(presented, await mac(adminToken, `notice.${nonce}.${kind}.${text}`)))) return undefined;
  try {
    return { kind, text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(base64urlDecode(text)) };
  } catch {
    return undefined;
  }
}

/** Clears the notice once shown. */
export const clearedNoticeCookie = `${NOTICE_COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;
