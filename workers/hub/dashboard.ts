/**
 * The dashboard at `/admin/`: server-rendered HTML (no framework, no script, no external asset),
 * under a strict Content-Security-Policy whose only allowance is this response's nonce for its one
 * `<style>`. Shows certificates (a page at a time, searchable, filterable by state), deploy tokens,
 * webhook endpoints and their recent deliveries; adds, renews, revokes and deletes certificates.
 * Sign-in exchanges the admin token for a signed session cookie (./session.ts) backed by a record
 * that sign-out deletes (./session-store.ts), throttled fleet-wide (./sign-in-throttle.ts); every
 * action is a form POST carrying the session's CSRF token, checked with the `Origin` header, and
 * reports its outcome in a session-bound notice cookie, never in the URL.
 *
 * The dashboard holds no logic of its own: it reads and acts through the admin API (`api`), so its
 * validation, locking and errors are the API's. It never answers 5xx: an error of the API or of the
 * configuration is shown on the page, beside whatever can still be read.
 * @module
 */
import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { DurableObjectStorage } from "../../src/storage/durable-object-storage.ts";
import { relativeText } from "../../src/duration-text.ts";
import { base64urlEncode } from "../../src/webcrypto/base64url.ts";
import { MAX_BODY_BYTES } from "../admin-body.ts";
import type { CertificateSummary } from "../certificate-summary.ts";
import { adminToken, checkAdminToken, ConfigError } from "../config.ts";
import { constantTimeEqual } from "../constant-time.ts";
import type { Env } from "../env.ts";
import type { DeliveryView, EndpointView } from "./webhook-outbox.ts";
import {
  clearedNoticeCookie,
  csrfToken,
  newSession,
  NOTICE_COOKIE,
  noticeCookie,
  readCookie,
  readNotice,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionCookie,
  verifyCsrf,
  verifySession,
  type Notice,
} from "./session.ts";
import { SessionStore } from "./session-store.ts";
import { SignInThrottle } from "./sign-in-throttle.ts";

type HubEnv = { Bindings: Env };
type Ctx = Context<HubEnv>;

/** Calls the admin API (with the admin token) from inside the Worker. */
export type AdminApi = (c: Ctx, path: string, init?: { method?: string; body?: string }) => Response | Promise<Response>;

/** A certificate waiting for the CA's budget (GET /admin/queue). */
interface QueuedView {
  id: string;
  names: string[];
  /** Null past the positions the index counts exactly (then `positionAfter`). */
  position: number | null;
  positionAfter?: number;
  estimatedAt: string;
  queuedFor: string;
}

/** `#12`, or `after #1000` past the positions the queue counts exactly. */
function place(w: { position: number | null; positionAfter?: number }): string {
  return w.position !== null ? `#${w.position}` : `after #${w.positionAfter ?? "?"}`;
}

interface TokenView {
  id: string;
  scope: { certificate?: string; pattern?: string };
  label: string | null;
  sealed: boolean;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  lastUsedFrom: string | null;
  uses: number;
}

/** Certificates on one page of the dashboard. */
const PAGE_SIZE = 50;
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #d8dee4;padding:.4rem .5rem;text-align:left;vertical-align:top}
.state-valid,.state-delivered,.state-enabled,.state-active{color:#1a7f37}
.state-failing,.state-failed,.state-disabled,.state-revoked,.state-expired{color:#cf222e;font-weight:600}
.state-pending,.state-queued{color:#9a6700}.error{color:#cf222e;font-size:.85em}
form{display:inline}button,.button{font:inherit;padding:.15rem .6rem;cursor:pointer;border:1px solid #8c959f;border-radius:4px;background:#f6f8fa;color:#1b1f24;text-decoration:none}
.danger{background:#cf222e;border-color:#a40e26;color:#fff}
.notice{padding:.5rem;border:1px solid}.notice.ok{background:#dafbe1;border-color:#4ac26b}.notice.failed{background:#ffebe9;border-color:#ff8182}
.pages{margin:.5rem 0}.muted{color:#57606a}
fieldset{border:1px solid #d8dee4;background:#fff;margin-top:.5rem}textarea{font:inherit;width:30rem;max-width:100%}
svg{display:block}
`;

function page(c: Ctx, title: string, body: string, status: 200 | 401 | 403 | 429 = 200): Response {
  const nonce = base64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
  c.header("Content-Security-Policy", `default-src 'none'; style-src 'nonce-${nonce}'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`);
  c.header("X-Content-Type-Options", "nosniff");
  // Not no-referrer: with it browsers send `Origin: null` on form posts, which the origin check must refuse.
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
  return c.html(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head><body>${body}</body></html>`, status);
}

const noticeHtml = (n: Notice, id = "notice") => `<p class="notice ${n.kind}" id="${id}" role="${n.kind === "ok" ? "status" : "alert"}">${escapeHtml(n.text)}</p>`;

/**
 * Why the admin token cannot sign anyone in (unset, or failing the strength rule), or undefined when
 * it can. A weak token signs no session: not even with the right guess of it.
 */
function tokenProblem(c: Ctx): string | undefined {
  const token = adminToken(c.env);
  if (!token) return "the admin API is disabled: set the ADMIN_TOKEN secret (npx wrangler secret put ADMIN_TOKEN; for wrangler dev, in .dev.vars)";
  try {
    checkAdminToken(token);
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return `${err.message}, then set it again (npx wrangler secret put ADMIN_TOKEN; for wrangler dev, in .dev.vars)`;
    throw err;
  }
}

/** The admin token when it may sign sessions. */
const usableSecret = (c: Ctx): string | undefined => (tokenProblem(c) === undefined ? adminToken(c.env) : undefined);
const strongStorage = (c: Ctx) => new DurableObjectStorage(c.env.EDGECERT_STORE);

/** The request's own origin: actions are accepted only from pages it served. */
function sameOrigin(c: Ctx): boolean {
  const origin = c.req.header("origin");
  return origin !== undefined && origin === new URL(c.req.url).origin;
}

async function readForm(c: Ctx): Promise<Record<string, string>> {
  if (Number(c.req.header("content-length") ?? "0") > MAX_BODY_BYTES) return {};
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) return {};
  return Object.fromEntries(new URLSearchParams(text));
}

/** A time as people read it ("in 3 days", "5 minutes ago"), the exact UTC time in its title. */
export function relativeTime(iso: string | null, now: number): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return escapeHtml(iso);
  const exact = new Date(t).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
  return `<time datetime="${escapeHtml(new Date(t).toISOString())}" title="${exact}">${relativeText(t, now)}</time>`;
}

/** A time both ways: relative, then the exact UTC time (an estimate people plan by). */
const bothTimes = (iso: string, now: number) => `${relativeTime(iso, now)} (${escapeHtml(iso.replace("T", " ").replace(/\.\d{3}Z$/, " UTC"))})`;

/** The CA limit a queued certificate waits for, from its `queuedFor` (`orders <account>`, `domain <domain>`, `nameset <names>`). */
function heldBy(queuedFor: string): string {
  const [kind, ...rest] = queuedFor.split(" ");
  const subject = escapeHtml(rest.join(" "));
  return kind === "orders" ? `new orders per account <span class="muted">${subject}</span>` : kind === "domain" ? `certificates per domain ${subject}` : kind === "nameset" ? "certificates per name set" : escapeHtml(queuedFor);
}

function timeline(notAfter: string | null, renewAt: string, now: number, horizon: number): string {
  if (!notAfter) return "";
  const x = (t: number) => Math.max(0, Math.min(200, ((t - now) / (horizon - now)) * 200));
  const end = x(Date.parse(notAfter));
  const renew = x(Date.parse(renewAt));
  return `<svg width="204" height="14" role="img" aria-label="expires ${escapeHtml(notAfter)}"><rect x="0" y="4" width="${end.toFixed(1)}" height="6" fill="#54aeff"/><rect x="${renew.toFixed(1)}" y="0" width="2" height="14" fill="#9a6700"/></svg>`;
}

function actionForm(path: string, csrf: string, label: string, fields: Record<string, string> = {}, css = ""): string {
  const hidden = Object.entries({ csrf, ...fields }).map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join("");
  return `<form method="post" action="${escapeHtml(path)}">${hidden}<button type="submit"${css ? ` class="${css}"` : ""}>${escapeHtml(label)}</button></form>`;
}

function loginPage(c: Ctx, error?: string, status: 200 | 401 | 403 | 429 = 200): Response {
  const problem = tokenProblem(c);
  const form = problem
    ? `<p class="notice failed" id="config-error" role="alert">Sign-in is closed: ${escapeHtml(problem)}.</p>`
    : `<form method="post" action="/admin/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" required></label> <button type="submit" id="sign-in">Sign in</button></form>`;
  return page(c, "edgecert — sign in", `<h1>edgecert</h1>${error ? noticeHtml({ kind: "failed", text: error }) : ""}${form}`, status);
}

/** A JSON answer of the admin API: the body, or the error to show in its place. */
type Read<T> = { ok: true; body: T } | { ok: false; error: string; code: string };

async function readApi<T>(api: AdminApi, c: Ctx, path: string): Promise<Read<T>> {
  try {
    const res = await api(c, path);
    const body = (await res.json().catch(() => undefined)) as (T & { error?: { code?: string; message?: string } }) | undefined;
    if (res.ok && body) return { ok: true, body };
    return { ok: false, code: body?.error?.code ?? "internal", error: body?.error?.message ?? `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, code: "internal", error: err instanceof Error ? err.message : String(err) };
  }
}

/** A query string of the dashboard's own parameters (blank ones left out). */
function dashboardQuery(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => !!e[1]));
  const text = q.toString();
  return text ? `?${text}` : "";
}

const CERTIFICATE_STATES = ["pending", "valid", "failing", "failed", "queued"];
const TOKEN_STATES = ["active", "revoked", "expired"];
const WEBHOOK_STATES = ["enabled", "disabled"];
const DELIVERY_STATES = ["pending", "delivered", "failed"];
const CHALLENGES = ["http-01", "dns-01", "dns-persist-01"];

/**
 * A form POST whose failure (the strongly consistent store unreachable, say) is shown as a page that
 * says what failed and to try again, never a 5xx.
 */
const guarded = (handle: (c: Ctx) => Promise<Response>) => async (c: Ctx) => {
  try {
    return await handle(c);
  } catch (err) {
    return page(c, "edgecert", `<h1>edgecert</h1>${noticeHtml({ kind: "failed", text: `That did not go through: ${err instanceof Error ? err.message : String(err)}. Try again.` })}<p><a href="/admin/">Back to the dashboard</a></p>`);
  }
};

/** The dashboard's routes; mount them before the admin API's bearer check. */
export function dashboardRoutes(api: AdminApi) {
  const app = new Hono<HubEnv>();

  /** The session's nonce when the cookie is signed, its record open and the admin token usable. */
  const session = async (c: Ctx): Promise<string | undefined> => {
    const secret = usableSecret(c);
    if (!secret) return undefined;
    const nonce = await verifySession(secret, readCookie(c.req.header("cookie"), SESSION_COOKIE), Date.now());
    return nonce && (await new SessionStore(strongStorage(c)).isOpen(nonce, Date.now())) ? nonce : undefined;
  };

  /** A signed-in page: never a 5xx; what fails is shown in the page. */
  const signedIn = (render: (c: Ctx, nonce: string, csrf: string) => Promise<Response>) => async (c: Ctx) => {
    let nonce: string | undefined;
    try {
      nonce = await session(c);
    } catch (err) {
      return loginPage(c, `The sessions could not be read: ${err instanceof Error ? err.message : String(err)}. Try again.`);
    }
    if (!nonce) return c.redirect("/admin/login", 303);
    const csrf = await csrfToken(usableSecret(c)!, nonce);
    try {
      return await render(c, nonce, csrf);
    } catch (err) {
      return page(c, "edgecert", `<h1>edgecert</h1>${noticeHtml({ kind: "failed", text: `The dashboard could not be shown: ${err instanceof Error ? err.message : String(err)}` })}<p><a href="/admin/">Reload</a></p>`);
    }
  };

  const home = signedIn(async (c, nonce, csrf) => {
    const now = Date.now();
    const q = c.req.query("q")?.trim() || undefined;
    const state = c.req.query("state") || undefined;
    // Each listing's own state filter: certificates `state`, tokens `tstate`, webhooks `wstate`, deliveries `dstate`.
    const tstate = c.req.query("tstate") || undefined;
    const wstate = c.req.query("wstate") || undefined;
    const dstate = c.req.query("dstate") || undefined;
    const own = { q, state, tstate, wstate, dstate };
    const listing = (path: string, params: Record<string, string | undefined>) => `${path}${dashboardQuery(params)}`;
    const [status, list, tokens, webhooks, deliveries, queue] = await Promise.all([
      readApi<{ certificates: number }>(api, c, "/admin/status"),
      readApi<{ certificates: CertificateSummary[]; cursor: string | null }>(api, c, listing("/admin/certificates", { limit: String(PAGE_SIZE), q, state, cursor: c.req.query("cursor") })),
      readApi<{ tokens: TokenView[]; cursor: string | null }>(api, c, listing("/admin/tokens", { limit: "50", q, state: tstate, cursor: c.req.query("tokens") })),
      readApi<{ webhooks: EndpointView[]; cursor: string | null }>(api, c, listing("/admin/webhooks", { limit: "50", q, state: wstate, cursor: c.req.query("webhooks") })),
      readApi<{ deliveries: DeliveryView[]; cursor: string | null }>(api, c, listing("/admin/webhooks/deliveries", { limit: "20", q, state: dstate, cursor: c.req.query("deliveries") })),
      readApi<{ queued: QueuedView[]; total: number; cursor: string | null }>(api, c, listing("/admin/queue", { limit: "20", cursor: c.req.query("queue") })),
    ]);
    const certificates = list.ok ? list.body.certificates : [];
    // Where each queued certificate of this page waits: from the queue's page, else all the others in
    // one call (GET /admin/queue?ids=), not one certificate detail each.
    const waiting = new Map<string, Omit<QueuedView, "names">>((queue.ok ? queue.body.queued : []).map((w) => [w.id, w]));
    const unplaced = certificates.filter((s) => s.queuedFor && !waiting.has(s.id)).map((s) => s.id);
    if (unplaced.length > 0) {
      const places = await readApi<{ queued: QueuedView[] }>(api, c, `/admin/queue?ids=${unplaced.map(encodeURIComponent).join(",")}`);
      for (const w of places.ok ? places.body.queued : []) waiting.set(w.id, w);
    }
    // The index keeps the issuer; only an entry last written before it did needs the certificate read.
    const issuers = await Promise.all(
      certificates.map(async (s) => {
        if (s.issuer !== null || s.status === "pending" || s.status === "failed") return s.issuer ?? "";
        const detail = await readApi<{ certificate: { issuer: string } | null }>(api, c, `/admin/certificates/${encodeURIComponent(s.id)}`);
        return detail.ok ? (detail.body.certificate?.issuer ?? "") : "—";
      }),
    );

    const notices: string[] = [];
    const shown = await readNotice(usableSecret(c)!, nonce, readCookie(c.req.header("cookie"), NOTICE_COOKIE));
    if (readCookie(c.req.header("cookie"), NOTICE_COOKIE) !== undefined) c.header("Set-Cookie", clearedNoticeCookie);
    if (shown) notices.push(noticeHtml(shown));
    if (!status.ok) {
      const what =
        status.code === "configuration_error"
          ? `Configuration error — ${status.error}. Fix it in wrangler.toml [vars] (a secret: npx wrangler secret put NAME; for wrangler dev, .dev.vars) and deploy again. The lists below are read without it; renewals and actions that need it fail until then.`
          : `The Worker reports ${status.code}: ${status.error}`;
      notices.push(noticeHtml({ kind: "failed", text: what }, "config-error"));
    }
    const failedList = (what: string, r: Read<unknown>) => (r.ok ? "" : noticeHtml({ kind: "failed", text: `Could not list ${what}: ${r.error}` }, `error-${what.replace(/ /g, "-")}`));
    // A searched page stops after a bounded scan (../bounded-scan.ts): a short page with a cursor has
    // looked at part of the list only, and says so.
    const further = (shown: number, size: number, filter: string | undefined) => (filter && shown < size ? "Search further" : "Next page");
    const next = (id: string, label: string, params: Record<string, string | undefined>) => `<a class="button" id="${id}" href="/admin/${escapeHtml(dashboardQuery(params))}">${label}</a>`;

    const horizon = Math.max(now + 86_400_000, ...certificates.map((s) => (s.notAfter ? Date.parse(s.notAfter) : 0)));
    const rows = certificates
      .map((s, i) => {
        const base = `/admin/ui/certificates/${encodeURIComponent(s.id)}`;
        const w = waiting.get(s.id);
        // Held back by the CA's budget (nothing sent): where it waits, not a failure's error.
        const state = w
          ? `<td class="state-queued">queued ${place(w)}<div>for the CA's limit of ${heldBy(w.queuedFor)}, expected ${bothTimes(w.estimatedAt, now)}</div></td>`
          : `<td class="state-${escapeHtml(s.status)}">${escapeHtml(s.status)}${s.lastError ? `<div class="error">${escapeHtml(s.lastError)}</div>` : ""}${s.nextAttemptAt ? `<div class="muted">next attempt ${relativeTime(s.nextAttemptAt, now)}</div>` : ""}</td>`;
        return (
          `<tr data-id="${escapeHtml(s.id)}"><td>${s.names.map(escapeHtml).join("<br>")}</td><td>${escapeHtml(issuers[i]!)}</td>${state}` +
          `<td>${relativeTime(s.notAfter, now)}${timeline(s.notAfter, s.nextWorkAt, now, horizon)}</td><td>${relativeTime(s.nextWorkAt, now)}</td>` +
          `<td>${actionForm(`${base}/renew`, csrf, "Renew")} <a class="button danger" href="${escapeHtml(base)}/revoke">Revoke…</a> <a class="button" href="${escapeHtml(base)}/delete">Delete…</a></td></tr>`
        );
      })
      .join("");
    const certCursor = list.ok ? list.body.cursor : null;
    const select = (name: string, label: string, states: readonly string[], current: string | undefined) =>
      `<label>${label} <select name="${name}">${["", ...states].map((s) => `<option value="${s}"${s === (current ?? "") ? " selected" : ""}>${s || "any"}</option>`).join("")}</select></label>`;
    const search =
      `<form method="get" action="/admin/" role="search" id="search"><label>Name contains <input name="q" value="${escapeHtml(q ?? "")}" maxlength="100"></label> ` +
      `${select("state", "Certificates", CERTIFICATE_STATES, state)} ${select("tstate", "Tokens", TOKEN_STATES, tstate)} ${select("wstate", "Webhooks", WEBHOOK_STATES, wstate)} ${select("dstate", "Deliveries", DELIVERY_STATES, dstate)} ` +
      `<button type="submit">Search</button>${Object.values(own).some(Boolean) ? ` <a href="/admin/">Clear</a>` : ""}</form>`;
    const pages =
      `<nav class="pages">${c.req.query("cursor") ? next("first-certificates", "First page", own) + " " : ""}` +
      `${certCursor ? next("next-certificates", further(certificates.length, PAGE_SIZE, q || state), { ...own, cursor: certCursor }) : ""}</nav>`;
    const challengeOptions = ["", ...CHALLENGES].map((ch) => `<option value="${ch}">${ch || "default (http-01, or DNS when configured)"}</option>`).join("");
    const add =
      `<fieldset id="add-certificate"><legend>Add a certificate</legend><form method="post" action="/admin/ui/certificates"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">` +
      `<label>Names (one per line or comma-separated)<br><textarea name="names" rows="2" required placeholder="example.com, www.example.com"></textarea></label><br>` +
      `<label>Challenge <select name="challenge">${challengeOptions}</select></label> <label>Profile <input name="profile" maxlength="64" placeholder="CA default"></label> <button type="submit">Add</button></form></fieldset>`;

    const tokenList = tokens.ok ? tokens.body.tokens : [];
    const tokenRows = tokenList
      .map((t) => {
        const tokenState = t.revokedAt ? "revoked" : t.expiresAt && Date.parse(t.expiresAt) <= now ? "expired" : "active";
        return (
          `<tr data-id="${escapeHtml(t.id)}"><td>${escapeHtml(t.id)}</td><td>${escapeHtml(t.scope.certificate ?? t.scope.pattern ?? "")}</td><td>${escapeHtml(t.label ?? "")}</td><td>${t.sealed ? "sealed" : "plain"}</td>` +
          `<td class="state-${tokenState}">${tokenState}${t.revokedAt ? ` ${relativeTime(t.revokedAt, now)}` : ""}</td><td>${t.expiresAt ? relativeTime(t.expiresAt, now) : "never"}</td>` +
          `<td>${t.lastUsedAt ? relativeTime(t.lastUsedAt, now) : "never"} ${escapeHtml(t.lastUsedFrom ?? "")} (${t.uses})</td>` +
          `<td>${t.revokedAt ? "" : actionForm(`/admin/ui/tokens/${encodeURIComponent(t.id)}/revoke`, csrf, "Revoke")}</td></tr>`
        );
      })
      .join("");
    const webhookList = webhooks.ok ? webhooks.body.webhooks : [];
    const webhookRows = webhookList
      .map(
        (w) =>
          `<tr data-id="${escapeHtml(w.id)}"><td>${escapeHtml(w.url)}</td><td>${escapeHtml(w.events.length ? w.events.join(", ") : "all")}</td><td>${escapeHtml(w.label ?? "")}</td>` +
          `<td class="state-${w.disabledAt ? "disabled" : "enabled"}">${w.disabledAt ? `disabled: ${escapeHtml(w.disabledReason ?? "")}` : "enabled"}</td><td>${w.pending}</td>` +
          `<td>${w.disabledAt ? actionForm(`/admin/ui/webhooks/${encodeURIComponent(w.id)}/enable`, csrf, "Enable") : actionForm(`/admin/ui/webhooks/${encodeURIComponent(w.id)}/test`, csrf, "Send test")}</td></tr>`,
      )
      .join("");
    const deliveryList = deliveries.ok ? deliveries.body.deliveries : [];
    const deliveryRows = deliveryList
      .map((d) => {
        const last = d.attempts[d.attempts.length - 1];
        const result = last ? (last.error ?? `HTTP ${last.status}`) : "not tried yet";
        return (
          `<tr><td>${relativeTime(d.createdAt, now)}</td><td>${escapeHtml(d.type)}</td><td>${escapeHtml(d.endpointId)}</td><td class="state-${escapeHtml(d.state)}">${escapeHtml(d.state)}</td>` +
          `<td>${d.attempts.length}</td><td>${escapeHtml(result)}${d.nextAttemptAt ? `<div>next ${relativeTime(d.nextAttemptAt, now)}</div>` : ""}</td></tr>`
        );
      })
      .join("");
    const queueRows = (queue.ok ? queue.body.queued : [])
      .map((w) => `<tr data-id="${escapeHtml(w.id)}"><td>${w.position ?? `after ${w.positionAfter ?? "?"}`}</td><td>${w.names.map(escapeHtml).join("<br>")}</td><td>${heldBy(w.queuedFor)}</td><td>${bothTimes(w.estimatedAt, now)}</td></tr>`)
      .join("");
    const more = (r: Read<{ cursor: string | null }>, param: string, id: string, shown: number, size: number, filter: string | undefined) =>
      r.ok && r.body.cursor ? `<nav class="pages">${next(id, further(shown, size, q || filter), { ...own, [param]: r.body.cursor })}</nav>` : "";
    const total = status.ok ? ` (${status.body.certificates}${q || state ? `; showing matches of “${escapeHtml([q, state].filter(Boolean).join(", "))}”` : ""})` : "";
    const filtered = (s: string | undefined) => (s || q ? ` (${escapeHtml([q, s].filter(Boolean).join(", "))})` : "");
    return page(
      c,
      "edgecert",
      `<h1>edgecert <form method="post" action="/admin/logout"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><button type="submit">Sign out</button></form></h1>` +
        notices.join("") +
        `<h2>Certificates${total}</h2>${search}${failedList("certificates", list)}` +
        `<table id="certificates"><thead><tr><th>Names</th><th>Issuer</th><th>Status</th><th>Expires (timeline to ${escapeHtml(new Date(horizon).toISOString().slice(0, 10))}; mark: next renewal)</th><th>Next renewal</th><th></th></tr></thead><tbody>${rows}</tbody></table>${pages}${add}` +
        (queue.ok && queue.body.total === 0 ? "" : `<h2>CA queue (${queue.ok ? queue.body.total : "?"} waiting for the CA's limits)</h2>${failedList("queue", queue)}<table id="queue"><thead><tr><th>#</th><th>Names</th><th>Held by</th><th>Expected</th></tr></thead><tbody>${queueRows}</tbody></table>${more(queue, "queue", "next-queue", 20, 20, undefined)}`) +
        `<h2>Deploy tokens${filtered(tstate)}</h2>${failedList("tokens", tokens)}<table id="tokens"><thead><tr><th>Id</th><th>Scope</th><th>Label</th><th>Key</th><th>State</th><th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>${tokenRows}</tbody></table>${more(tokens, "tokens", "next-tokens", tokenList.length, 50, tstate)}` +
        `<h2>Webhooks${filtered(wstate)}</h2>${failedList("webhooks", webhooks)}<table id="webhooks"><thead><tr><th>URL</th><th>Events</th><th>Label</th><th>Status</th><th>Pending</th><th></th></tr></thead><tbody>${webhookRows}</tbody></table>${more(webhooks, "webhooks", "next-webhooks", webhookList.length, 50, wstate)}` +
        `<h2>Recent deliveries${filtered(dstate)}</h2>${failedList("deliveries", deliveries)}<table id="deliveries"><thead><tr><th>Event time</th><th>Type</th><th>Endpoint</th><th>State</th><th>Attempts</th><th>Last result</th></tr></thead><tbody>${deliveryRows}</tbody></table>${more(deliveries, "deliveries", "next-deliveries", deliveryList.length, 20, dstate)}`,
    );
  });
  app.get("/admin", home);
  app.get("/admin/", home);

  /** The confirming step of a destructive action: names the certificate and what happens. */
  const confirm = (verb: "revoke" | "delete") =>
    signedIn(async (c, _nonce, csrf) => {
      const id = c.req.param("id")!;
      const detail = await readApi<CertificateSummary & { certificate: { serialNumber: string; notAfter: string } | null }>(api, c, `/admin/certificates/${encodeURIComponent(id)}`);
      if (!detail.ok) return page(c, "edgecert", `<h1>edgecert</h1>${noticeHtml({ kind: "failed", text: `Cannot ${verb} ${id}: ${detail.error}` })}<p><a href="/admin/">Back to the dashboard</a></p>`);
      const s = detail.body;
      const names = s.names.map((n) => `<strong>${escapeHtml(n)}</strong>`).join(", ");
      const cert = s.certificate;
      const base = `/admin/ui/certificates/${encodeURIComponent(s.id)}`;
      const back = `<a class="button" href="/admin/" id="cancel">Cancel</a>`;
      let body: string;
      if (verb === "revoke" && !cert) {
        body = `<p id="consequence">${names} has no certificate yet: there is nothing to revoke. Delete it instead to stop trying to issue it.</p><p><a class="button" href="${escapeHtml(base)}/delete">Delete…</a> ${back}</p>`;
      } else if (verb === "revoke") {
        body =
          `<p id="consequence">Revoke the certificate for ${names} (serial ${escapeHtml(cert!.serialNumber)}, expires ${relativeTime(cert!.notAfter, Date.now())})? ` +
          `The CA marks it revoked: clients that check revocation refuse it at once, wherever it is deployed. This Worker then forgets it and its key and stops renewing it. This cannot be undone; add the names again for a new certificate.</p>` +
          `<p>${actionForm(`${base}/revoke`, csrf, `Revoke ${s.names[0]}`, { confirm: s.id }, "danger")} ${back}</p>`;
      } else {
        body =
          `<p id="consequence">Delete ${names}? This Worker forgets ${cert ? "the certificate and its key" : "it"} and stops ${cert ? "renewing" : "trying to issue"} it. ` +
          `${cert ? `It is not revoked: copies already deployed keep working until it expires (${relativeTime(cert.notAfter, Date.now())}).` : ""}</p>` +
          `<p>${actionForm(`${base}/delete`, csrf, `Delete ${s.names[0]}`, { confirm: s.id }, "danger")} ${back}</p>`;
      }
      return page(c, `edgecert — ${verb} ${s.names[0]}`, `<h1>${verb === "revoke" ? "Revoke" : "Delete"} a certificate</h1>${body}`);
    });
  app.get("/admin/ui/certificates/:id/revoke", confirm("revoke"));
  app.get("/admin/ui/certificates/:id/delete", confirm("delete"));

  app.get("/admin/login", (c) => loginPage(c));
  app.post("/admin/login", guarded(async (c) => {
    // Login CSRF: a sign-in form posted from elsewhere is refused too.
    if (!sameOrigin(c)) return page(c, "refused", "<p>Cross-origin request refused.</p>", 403);
    const form = await readForm(c);
    const secret = usableSecret(c);
    if (!secret) return loginPage(c, undefined, 403);
    const storage = strongStorage(c);
    const throttle = new SignInThrottle(storage);
    const now = Date.now();
    const wait = await throttle.attempt(now);
    if (wait !== undefined) {
      c.header("Retry-After", String(wait));
      return loginPage(c, `Too many sign-in attempts: sign-in is paused for everyone for ${Math.ceil(wait / 60)} minute(s). The admin API (bearer token) still works.`, 429);
    }
    if (!form.token || !(await constantTimeEqual(form.token, secret))) return loginPage(c, "Wrong admin token.", 401);
    await throttle.clear();
    const cookie = await newSession(secret, now);
    await new SessionStore(storage).open(cookie.split(".")[1]!, now + SESSION_TTL_MS, now);
    c.header("Set-Cookie", sessionCookie(cookie, SESSION_TTL_MS / 1000));
    return c.redirect("/admin/", 303);
  }));

  /**
   * An action: a live session (else 401), same origin and the session's CSRF token (else 403), then
   * `run`; its outcome goes back in the notice cookie (bound to this session) and the browser to the
   * dashboard.
   */
  const action = (run: (c: Ctx, form: Record<string, string>) => Promise<Notice | Response>) => guarded(async (c: Ctx) => {
    const nonce = await session(c);
    if (!nonce) return page(c, "sign in", `<p>Not signed in. <a href="/admin/login">Sign in</a></p>`, 401);
    const form = await readForm(c);
    const secret = usableSecret(c)!;
    if (!sameOrigin(c) || !(await verifyCsrf(secret, nonce, form.csrf))) return page(c, "refused", "<p>CSRF check failed: reload the dashboard and try again.</p>", 403);
    const outcome = await run(c, form);
    if (outcome instanceof Response) return outcome;
    c.header("Set-Cookie", await noticeCookie(secret, nonce, outcome));
    return c.redirect("/admin/", 303);
  });
  const outcome = async (res: Response, done: string): Promise<Notice> => {
    if (res.ok) return { kind: "ok", text: done };
    const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    return { kind: "failed", text: `Failed: ${body?.error?.message ?? `HTTP ${res.status}`}` };
  };
  const certPath = (c: Ctx, tail = "") => `/admin/certificates/${encodeURIComponent(c.req.param("id")!)}${tail}`;
  app.post(
    "/admin/ui/certificates",
    action(async (c, form) => {
      const names = (form.names ?? "").split(/[\s,]+/).filter(Boolean);
      const body = { names, ...(form.challenge ? { challenge: form.challenge } : {}), ...(form.profile?.trim() ? { profile: form.profile.trim() } : {}) };
      const res = await api(c, "/admin/certificates", { method: "POST", body: JSON.stringify(body) });
      return outcome(res, res.status === 202 ? `Added ${names.join(", ")}: issuing now` : `${names.join(", ")} is already managed`);
    }),
  );
  app.post("/admin/ui/certificates/:id/renew", action(async (c) => outcome(await api(c, certPath(c, "/renew"), { method: "POST", body: "{}" }), `Renewed ${c.req.param("id")}`)));
  // Destructive: only with the confirming step's `confirm` naming this certificate; else to that step.
  const confirmed = (verb: "revoke" | "delete", run: (c: Ctx) => Promise<Notice>) =>
    action(async (c, form) => (form.confirm === c.req.param("id") ? run(c) : c.redirect(`/admin/ui/certificates/${encodeURIComponent(c.req.param("id")!)}/${verb}`, 303)));
  app.post("/admin/ui/certificates/:id/revoke", confirmed("revoke", async (c) => outcome(await api(c, certPath(c, "/revoke"), { method: "POST", body: "{}" }), `Revoked ${c.req.param("id")}`)));
  app.post("/admin/ui/certificates/:id/delete", confirmed("delete", async (c) => outcome(await api(c, certPath(c), { method: "DELETE" }), `Deleted ${c.req.param("id")}`)));
  app.post("/admin/ui/tokens/:id/revoke", action(async (c) => outcome(await api(c, `/admin/tokens/${encodeURIComponent(c.req.param("id")!)}`, { method: "DELETE" }), `Revoked token ${c.req.param("id")}`)));
  app.post(
    "/admin/ui/webhooks/:id/test",
    action(async (c) => outcome(await api(c, `/admin/webhooks/${encodeURIComponent(c.req.param("id")!)}/test`, { method: "POST", body: "{}" }), `Sent a test event to ${c.req.param("id")}`)),
  );
  app.post(
    "/admin/ui/webhooks/:id/enable",
    action(async (c) => outcome(await api(c, `/admin/webhooks/${encodeURIComponent(c.req.param("id")!)}/enable`, { method: "POST", body: "{}" }), `Enabled ${c.req.param("id")}`)),
  );
  app.post("/admin/logout", guarded(async (c) => {
    const nonce = await session(c);
    const form = await readForm(c);
    if (!nonce || !sameOrigin(c) || !(await verifyCsrf(usableSecret(c)!, nonce, form.csrf))) return page(c, "refused", "<p>Refused.</p>", 403);
    // Server-side: the cookie, wherever a copy of it is, opens nothing from now on.
    await new SessionStore(strongStorage(c)).end(nonce);
    c.header("Set-Cookie", sessionCookie("", 0));
    return c.redirect("/admin/login", 303);
  }));
  return app;
}
