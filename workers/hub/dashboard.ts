/**
 * The dashboard at `/admin/`: server-rendered HTML (no framework, no script, no external asset),
 * under a strict Content-Security-Policy whose only allowance is this response's nonce for its one
 * `<style>`. Shows certificates, deploy tokens, webhook endpoints and their recent deliveries. Sign-in exchanges the admin token for a signed session cookie (./session.ts); every
 * action is a form POST carrying the session's CSRF token, checked with the `Origin` header.
 *
 * The dashboard holds no logic of its own: it reads and acts through the admin API (`api`), so its
 * validation, locking and errors are the API's.
 * @module
 */
import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { base64urlEncode } from "../../src/webcrypto/base64url.ts";
import { MAX_BODY_BYTES } from "../admin-body.ts";
import type { CertificateSummary } from "../certificate-summary.ts";
import { constantTimeEqual } from "../constant-time.ts";
import type { Env } from "../env.ts";
import type { DeliveryView, EndpointView } from "./webhook-outbox.ts";
import { SESSION_COOKIE, SESSION_TTL_MS, csrfToken, newSession, readCookie, sessionCookie, verifyCsrf, verifySession } from "./session.ts";

type HubEnv = { Bindings: Env };
type Ctx = Context<HubEnv>;

/** Calls the admin API (with the admin token) from inside the Worker. */
export type AdminApi = (c: Ctx, path: string, init?: { method?: string; body?: string }) => Response | Promise<Response>;

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

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #d8dee4;padding:.4rem .5rem;text-align:left;vertical-align:top}
.valid{color:#1a7f37}.failing,.invalid{color:#cf222e}.pending{color:#9a6700}.error{color:#cf222e;font-size:.85em}
form{display:inline}button{font:inherit;padding:.15rem .6rem;cursor:pointer}
.notice{background:#ddf4ff;padding:.5rem;border:1px solid #54aeff}.bad{background:#ffebe9;border-color:#ff8182}
svg{display:block}
`;

function page(c: Ctx, title: string, body: string, status: 200 | 401 | 403 = 200): Response {
  const nonce = base64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
  c.header("Content-Security-Policy", `default-src 'none'; style-src 'nonce-${nonce}'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`);
  c.header("X-Content-Type-Options", "nosniff");
  // Not no-referrer: with it browsers send `Origin: null` on form posts, which the origin check must refuse.
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
  return c.html(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head><body>${body}</body></html>`, status);
}

/** The admin token, when configured; blank counts as unset (it would sign sessions with an empty key). */
const adminSecret = (c: Ctx): string | undefined => c.env.ADMIN_TOKEN?.trim() || undefined;

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

function timeline(notAfter: string | null, renewAt: string, now: number, horizon: number): string {
  if (!notAfter) return "";
  const x = (t: number) => Math.max(0, Math.min(200, ((t - now) / (horizon - now)) * 200));
  const end = x(Date.parse(notAfter));
  const renew = x(Date.parse(renewAt));
  return `<svg width="204" height="14" role="img" aria-label="expires ${escapeHtml(notAfter)}"><rect x="0" y="4" width="${end.toFixed(1)}" height="6" fill="#54aeff"/><rect x="${renew.toFixed(1)}" y="0" width="2" height="14" fill="#9a6700"/></svg>`;
}

function actionForm(path: string, csrf: string, label: string): string {
  return `<form method="post" action="${escapeHtml(path)}"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><button type="submit">${escapeHtml(label)}</button></form>`;
}

function loginPage(c: Ctx, error?: string): Response {
  return page(
    c,
    "edgecert — sign in",
    `<h1>edgecert</h1>${error ? `<p class="notice bad">${escapeHtml(error)}</p>` : ""}<form method="post" action="/admin/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" required></label> <button type="submit" id="sign-in">Sign in</button></form>`,
    error ? 401 : 200,
  );
}

/** The dashboard's routes; mount them before the admin API's bearer check. */
export function dashboardRoutes(api: AdminApi) {
  const app = new Hono<HubEnv>();
  const session = (c: Ctx) => verifySession(adminSecret(c) ?? "", readCookie(c.req.header("cookie"), SESSION_COOKIE), Date.now());

  const home = async (c: Ctx) => {
    const nonce = await session(c);
    if (!nonce) return c.redirect("/admin/login", 303);
    const csrf = await csrfToken(adminSecret(c)!, nonce);
    const list = (await (await api(c, "/admin/certificates?limit=200")).json()) as { certificates: CertificateSummary[] };
    const issuers = await Promise.all(
      list.certificates.map(async (s) => ((await (await api(c, `/admin/certificates/${encodeURIComponent(s.id)}`)).json()) as { certificate: { issuer: string } | null }).certificate?.issuer ?? ""),
    );
    const tokens = ((await (await api(c, "/admin/tokens")).json()) as { tokens: TokenView[] }).tokens;
    const webhooks = ((await (await api(c, "/admin/webhooks")).json()) as { webhooks: EndpointView[] }).webhooks;
    const deliveries = ((await (await api(c, "/admin/webhooks/deliveries?limit=20")).json()) as { deliveries: DeliveryView[] }).deliveries;
    const now = Date.now();
    const horizon = Math.max(now + 86_400_000, ...list.certificates.map((s) => (s.notAfter ? Date.parse(s.notAfter) : 0)));
    const notice = c.req.query("notice");
    const rows = list.certificates
      .map((s, i) => {
        const base = `/admin/ui/certificates/${encodeURIComponent(s.id)}`;
        return `<tr data-id="${escapeHtml(s.id)}"><td>${s.names.map(escapeHtml).join("<br>")}</td><td>${escapeHtml(issuers[i]!)}</td><td class="${escapeHtml(s.status)}">${escapeHtml(s.status)}${s.lastError ? `<div class="error">${escapeHtml(s.lastError)}</div>` : ""}</td><td>${escapeHtml(s.notAfter ?? "—")}${timeline(s.notAfter, s.nextWorkAt, now, horizon)}</td><td>${escapeHtml(s.nextWorkAt)}</td><td>${actionForm(`${base}/renew`, csrf, "Renew")} ${actionForm(`${base}/revoke`, csrf, "Revoke")}</td></tr>`;
      })
      .join("");
    const tokenRows = tokens
      .map(
        (t) =>
          `<tr><td>${escapeHtml(t.id)}</td><td>${escapeHtml(t.scope.certificate ?? t.scope.pattern ?? "")}</td><td>${escapeHtml(t.label ?? "")}</td><td>${t.sealed ? "sealed" : "plain"}</td><td>${escapeHtml(t.expiresAt ?? "never")}</td><td>${escapeHtml(t.lastUsedAt ?? "never")} ${escapeHtml(t.lastUsedFrom ?? "")} (${t.uses})</td><td>${t.revokedAt ? `revoked ${escapeHtml(t.revokedAt)}` : actionForm(`/admin/ui/tokens/${encodeURIComponent(t.id)}/revoke`, csrf, "Revoke")}</td></tr>`,
      )
      .join("");
    const webhookRows = webhooks
      .map(
        (w) =>
          `<tr data-id="${escapeHtml(w.id)}"><td>${escapeHtml(w.url)}</td><td>${escapeHtml(w.events.length ? w.events.join(", ") : "all")}</td><td>${escapeHtml(w.label ?? "")}</td><td class="${w.disabledAt ? "failing" : "valid"}">${w.disabledAt ? `disabled: ${escapeHtml(w.disabledReason ?? "")}` : "enabled"}</td><td>${w.pending}</td><td>${w.disabledAt ? actionForm(`/admin/ui/webhooks/${encodeURIComponent(w.id)}/enable`, csrf, "Enable") : actionForm(`/admin/ui/webhooks/${encodeURIComponent(w.id)}/test`, csrf, "Send test")}</td></tr>`,
      )
      .join("");
    const deliveryRows = deliveries
      .map((d) => {
        const last = d.attempts[d.attempts.length - 1];
        const result = last ? (last.error ?? `HTTP ${last.status}`) : "not tried yet";
        const css = d.state === "delivered" ? "valid" : d.state === "failed" ? "failing" : "pending";
        return `<tr><td>${escapeHtml(d.createdAt)}</td><td>${escapeHtml(d.type)}</td><td>${escapeHtml(d.endpointId)}</td><td class="${css}">${escapeHtml(d.state)}</td><td>${d.attempts.length}</td><td>${escapeHtml(result)}${d.nextAttemptAt ? `<div>next ${escapeHtml(d.nextAttemptAt)}</div>` : ""}</td></tr>`;
      })
      .join("");
    return page(
      c,
      "edgecert",
      `<h1>edgecert <form method="post" action="/admin/logout"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><button type="submit">Sign out</button></form></h1>` +
        (notice ? `<p class="notice" id="notice">${escapeHtml(notice)}</p>` : "") +
        `<h2>Certificates (${list.certificates.length})</h2><table id="certificates"><thead><tr><th>Names</th><th>Issuer</th><th>Status</th><th>Expires (timeline to ${escapeHtml(new Date(horizon).toISOString().slice(0, 10))}; mark: next renewal)</th><th>Next renewal</th><th></th></tr></thead><tbody>${rows}</tbody></table>` +
        `<h2>Deploy tokens (${tokens.length})</h2><table id="tokens"><thead><tr><th>Id</th><th>Scope</th><th>Label</th><th>Key</th><th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>${tokenRows}</tbody></table>` +
        `<h2>Webhooks (${webhooks.length})</h2><table id="webhooks"><thead><tr><th>URL</th><th>Events</th><th>Label</th><th>Status</th><th>Pending</th><th></th></tr></thead><tbody>${webhookRows}</tbody></table>` +
        `<h2>Recent deliveries</h2><table id="deliveries"><thead><tr><th>Event time</th><th>Type</th><th>Endpoint</th><th>State</th><th>Attempts</th><th>Last result</th></tr></thead><tbody>${deliveryRows}</tbody></table>`,
    );
  };
  app.get("/admin", home);
  app.get("/admin/", home);

  app.get("/admin/login", (c) => loginPage(c));
  app.post("/admin/login", async (c) => {
    // Login CSRF: a sign-in form posted from elsewhere is refused too.
    if (!sameOrigin(c)) return page(c, "refused", "<p>Cross-origin request refused.</p>", 403);
    const form = await readForm(c);
    const secret = adminSecret(c);
    if (!secret || !form.token || !(await constantTimeEqual(form.token, secret))) return loginPage(c, "Wrong admin token.");
    c.header("Set-Cookie", sessionCookie(await newSession(secret, Date.now()), SESSION_TTL_MS / 1000));
    return c.redirect("/admin/", 303);
  });

  /** An action: a live session (else 401), same origin and the session's CSRF token (else 403), then `run`. */
  const action = (run: (c: Ctx) => Promise<string>) => async (c: Ctx) => {
    const nonce = await session(c);
    if (!nonce) return page(c, "sign in", `<p>Not signed in. <a href="/admin/login">Sign in</a></p>`, 401);
    const form = await readForm(c);
    if (!sameOrigin(c) || !(await verifyCsrf(adminSecret(c)!, nonce, form.csrf))) return page(c, "refused", "<p>CSRF check failed: reload the dashboard and try again.</p>", 403);
    return c.redirect(`/admin/?notice=${encodeURIComponent(await run(c))}`, 303);
  };
  const outcome = async (res: Response, done: string) => {
    if (res.ok) return done;
    const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    return `Failed: ${body?.error?.message ?? `HTTP ${res.status}`}`;
  };
  app.post(
    "/admin/ui/certificates/:id/renew",
    action(async (c) => outcome(await api(c, `/admin/certificates/${encodeURIComponent(c.req.param("id")!)}/renew`, { method: "POST", body: "{}" }), `Renewed ${c.req.param("id")}`)),
  );
  app.post(
    "/admin/ui/certificates/:id/revoke",
    action(async (c) => outcome(await api(c, `/admin/certificates/${encodeURIComponent(c.req.param("id")!)}/revoke`, { method: "POST", body: "{}" }), `Revoked ${c.req.param("id")}`)),
  );
  app.post(
    "/admin/ui/tokens/:id/revoke",
    action(async (c) => outcome(await api(c, `/admin/tokens/${encodeURIComponent(c.req.param("id")!)}`, { method: "DELETE" }), `Revoked token ${c.req.param("id")}`)),
  );
  app.post(
    "/admin/ui/webhooks/:id/test",
    action(async (c) => outcome(await api(c, `/admin/webhooks/${encodeURIComponent(c.req.param("id")!)}/test`, { method: "POST", body: "{}" }), `Sent a test event to ${c.req.param("id")}`)),
  );
  app.post(
    "/admin/ui/webhooks/:id/enable",
    action(async (c) => outcome(await api(c, `/admin/webhooks/${encodeURIComponent(c.req.param("id")!)}/enable`, { method: "POST", body: "{}" }), `Enabled ${c.req.param("id")}`)),
  );
  app.post("/admin/logout", async (c) => {
    const nonce = await session(c);
    const form = await readForm(c);
    if (!nonce || !sameOrigin(c) || !(await verifyCsrf(adminSecret(c)!, nonce, form.csrf))) return page(c, "refused", "<p>Refused.</p>", 403);
    c.header("Set-Cookie", sessionCookie("", 0));
    return c.redirect("/admin/login", 303);
  });
  return app;
}
