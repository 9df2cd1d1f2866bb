/**
 * The hub's HTTP side: deploy tokens in the admin API (`/admin/tokens`, behind the admin token) and
 * the pull API for agents (`GET /v1/certificates/<name>`, behind a deploy token).
 * @module
 */
import { Hono } from "hono/tiny";
import { importAgentPublicKey, sealToAgent } from "../../src/hub/seal.ts";
import { DurableObjectStorage } from "../../src/storage/durable-object-storage.ts";
import { toHex } from "../../src/webcrypto/bytes.ts";
import { AdminError, readBody, readQuery } from "../admin-body.ts";
import { bearerToken } from "../bearer-token.ts";
import type { Env } from "../env.ts";
import { buildManager } from "../manager-factory.ts";
import { renewalIndex } from "../renewal-index.ts";
import { hostAllowList } from "../../src/manager/host-policy.ts";
import type { ManagedCertificate } from "../../src/manager/managed-certificate.ts";
import { pickServedCertificate } from "../../src/manager/pick-served-certificate.ts";
import { matchesSearch, readListQuery } from "../list-query.ts";
import { tokenUsage } from "./token-usage.ts";
import { TokenStore, isTokenId, publicView, readScope, scopeCovers, scopeMayCover, type TokenRecord, type TokenScope } from "./tokens.ts";

type HubEnv = { Bindings: Env };

const NO_QUERY = {} as const;
const TOKEN_STATES = ["active", "revoked", "expired"] as const;
const TOKEN_CURSOR = /^[0-9]{1,15}\.[A-Za-z0-9]{12}$/;
const tokenState = (r: TokenRecord, now: number) => (r.revokedAt !== undefined ? "revoked" : r.expiresAt !== undefined && r.expiresAt <= now ? "expired" : "active");

/** Header carrying the next renewal time (ISO 8601): when an agent should come back. */
export const NEXT_RENEWAL_HEADER = "Edgecert-Next-Renewal";

// Tokens hold only hashes (nothing to seal) and must be strongly consistent: the Durable Object store.
const tokenStorage = (env: Env) => new DurableObjectStorage(env.EDGECERT_STORE);
const tokens = (env: Env) => new TokenStore(tokenStorage(env));

/** ETag of a certificate as served: serial + a fingerprint of the key, so a re-keyed reissue with a reused serial still changes it. */
async function etagOf(serialNumber: string, keyPem: string): Promise<string> {
  const fp = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keyPem)))).slice(0, 16);
  // Weak (RFC 9110 §8.8.1): a sealed body differs on every request while the certificate is the same.
  return `W/"${serialNumber}-${fp}"`;
}

/** RFC 9110 §13.1.2: If-None-Match with weak comparison; `*` matches any current representation. */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const opaque = (t: string) => t.trim().replace(/^W\//, "");
  return header.split(",").some((t) => opaque(t) === opaque(etag));
}

/** The sealing context: a key sealed for one certificate serial does not open as another's. */
export const sealContext = (id: string, serialNumber: string) => `edgecert-pull:${id}:${serialNumber}`;

/**
 * The certificate a token's scope answers with for `name`. A certificate-scoped token gets its own
 * certificate whenever it covers `name`, never whatever the shared name index points at (another
 * certificate with the same name, issued or renewed last). A pattern-scoped token gets, of the
 * certificates covering `name` whose every name is within the pattern, the one the manager's serving
 * rule picks ({@link pickServedCertificate}: valid, exact over wildcard, latest notAfter, id). A read
 * only: renewing is the renewer's (its lock, index entry and webhook events), never a pull's.
 */
async function scopedCertificate(env: Env, scope: TokenScope, name: string): Promise<ManagedCertificate> {
  const outOfScope = new AdminError(403, "out_of_scope", `this deploy token does not cover ${name.slice(0, 253)}`);
  if ("certificate" in scope) {
    const entry = await renewalIndex(env).get(scope.certificate);
    // A certificate-scoped token learns nothing about names outside its certificate.
    if (!entry || !(await hostAllowList(...entry.names)(name))) throw outOfScope;
    const cert = await (await buildManager(env)).find(entry.names);
    if (!cert) throw new AdminError(404, "not_found", `no certificate for ${name} yet`);
    return cert;
  }
  if (!(await scopeMayCover(scope, name))) throw outOfScope;
  // The serving rule applied to the certificates within the pattern, not the rule's pick checked
  // against it afterwards: that flipped between 200 and 403 as certificates outside it renewed.
  const covering = await (await buildManager(env)).covering(name);
  const inScope: ManagedCertificate[] = [];
  for (const c of covering) if (await scopeCovers(scope, c.id, c.names)) inScope.push(c);
  // All expired: the best of them (as CertificateManager.lookup), for the agent to see what it has.
  const cert = pickServedCertificate(name, inScope, Date.now()) ?? inScope[0];
  if (cert) return cert;
  if (covering.length > 0) throw outOfScope;
  throw new AdminError(404, "not_found", `no certificate for ${name} yet`);
}

/** Routes of the hub, mounted into the Worker's app (after its admin-token middleware). */
export function hubRoutes() {
  const app = new Hono<HubEnv>();

  app.post("/admin/tokens", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const body = await readBody(c.req.raw, ["scope", "label", "expiresAt", "agentPublicKey"]);
    const scope = readScope(body.scope);
    if (body.label !== undefined && (typeof body.label !== "string" || body.label.length > 200)) throw new AdminError(400, "invalid_label", "label must be a string of at most 200 characters");
    let expiresAt: number | undefined;
    if (body.expiresAt !== undefined) {
      expiresAt = typeof body.expiresAt === "string" ? Date.parse(body.expiresAt) : NaN;
      if (!Number.isFinite(expiresAt)) throw new AdminError(400, "invalid_expiry", "expiresAt must be an ISO 8601 date-time");
    }
    if (body.agentPublicKey !== undefined) {
      if (typeof body.agentPublicKey !== "string") throw new AdminError(400, "invalid_agent_key", "agentPublicKey must be a P-256 public key in SPKI PEM");
      await importAgentPublicKey(body.agentPublicKey).catch((err: unknown) => {
        throw new AdminError(400, "invalid_agent_key", err instanceof Error ? err.message : "invalid agent key");
      });
    }
    const { token, record } = await tokens(c.env).create({
      scope,
      ...(typeof body.label === "string" ? { label: body.label } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      ...(typeof body.agentPublicKey === "string" ? { agentPublicKey: body.agentPublicKey } : {}),
    });
    // The token is in this response only; storage keeps its hash.
    return c.json({ ...publicView(record), token }, 201);
  });

  app.get("/admin/tokens", async (c) => {
    const query = readListQuery(c.req.url, TOKEN_CURSOR, TOKEN_STATES);
    const store = tokens(c.env);
    const now = Date.now();
    // Oldest first, ties by id; the cursor is where the page ended, `<createdAt>.<id>`.
    const [createdAt, id] = query.cursor ? (query.cursor.split(".") as [string, string]) : [];
    const filtered = query.state !== undefined || query.q !== undefined;
    const page = await store.page({
      limit: query.limit,
      ...(createdAt ? { after: { createdAt: Number(createdAt), id: id! } } : {}),
      ...(filtered
        ? { accept: (r: TokenRecord) => (!query.state || tokenState(r, now) === query.state) && matchesSearch(query.q, r.id, r.label, "certificate" in r.scope ? r.scope.certificate : r.scope.pattern) }
        : {}),
    });
    // With this isolate's uses not written yet, so the listing includes every pull it answered
    // (token-usage.ts) without writing them here: a page's storage cost stays bounded.
    return c.json({ tokens: (await store.withUsage(page.records, (id) => tokenUsage.unwritten(id))).map(publicView), cursor: page.next ? `${page.next.createdAt}.${page.next.id}` : null });
  });

  app.delete("/admin/tokens/:id", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    await readBody(c.req.raw, []);
    const id = c.req.param("id");
    // Anything but a token id names no token: a 404, never a storage key built from client input.
    const record = isTokenId(id) ? await tokens(c.env).revoke(id) : undefined;
    if (!record) throw new AdminError(404, "not_found", isTokenId(id) ? `no token ${id}` : "no such token");
    return c.json(publicView(record));
  });

  app.get("/v1/certificates/:name", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const store = tokenStorage(c.env);
    const auth = await new TokenStore(store).authenticate(bearerToken(c.req.header("authorization")) ?? "");
    if (typeof auth === "string") {
      c.header("WWW-Authenticate", 'Bearer realm="edgecert", error="invalid_token"');
      throw new AdminError(401, auth === "unknown" ? "unauthorized" : `token_${auth}`, auth === "unknown" ? "missing or unknown deploy token" : `the deploy token is ${auth}`);
    }
    tokenUsage.record(store, auth.id, Date.now(), c.req.header("cf-connecting-ip"), (p) => c.executionCtx.waitUntil(p));
    const name = c.req.param("name").toLowerCase();
    const cert = await scopedCertificate(c.env, auth.scope, name);
    const etag = await etagOf(cert.serialNumber, cert.keyPem);
    c.header("ETag", etag);
    c.header(NEXT_RENEWAL_HEADER, cert.renewAt.toISOString());
    c.header("Cache-Control", "no-store");
    if (noneMatch(c.req.header("if-none-match"), etag)) return c.body(null, 304);
    const key = auth.agentPublicKey
      ? { sealedPrivateKey: await sealToAgent(cert.keyPem, await importAgentPublicKey(auth.agentPublicKey), sealContext(cert.id, cert.serialNumber)) }
      : { privateKeyPem: cert.keyPem };
    return c.json({
      id: cert.id,
      names: cert.names,
      serialNumber: cert.serialNumber,
      issuer: cert.issuer,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      nextRenewalAt: cert.renewAt.toISOString(),
      chainPem: cert.chainPem,
      ...key,
    });
  });

  return app;
}
