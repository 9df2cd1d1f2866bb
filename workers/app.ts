import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { certificateId } from "../src/manager/storage-keys.ts";
import { hostAllowList } from "../src/manager/host-policy.ts";
import { checkDnsPersistRecords } from "../src/acme/dns-persist/checker.ts";
import { isIpAddress, toIdentifiers } from "../src/acme/identifiers.ts";
import { RevocationReason, type RevocationReasonCode } from "../src/acme/types.ts";
import { acmeChallenge } from "../src/hono/acme-challenge.ts";
import { AdminError, readBody, readNames } from "./admin-body.ts";
import { constantTimeEqual } from "./constant-time.ts";
import type { Env } from "./env.ts";
import { buildManager } from "./manager-factory.ts";
import type { IndexEntry } from "./renewal-index.ts";

type AppEnv = { Bindings: Env };

const index = (env: Env) => env.RENEWAL_INDEX.get(env.RENEWAL_INDEX.idFromName("index"));
const renewer = (env: Env, id: string) => env.CERTIFICATE_RENEWER.get(env.CERTIFICATE_RENEWER.idFromName(id));

function summary(e: IndexEntry) {
  return {
    id: e.id,
    names: e.names,
    status: e.status,
    notAfter: e.notAfter ? new Date(e.notAfter).toISOString() : null,
    nextWorkAt: new Date(e.dueAt).toISOString(),
    failures: e.failures,
    lastError: e.lastError ?? null,
    profile: e.profile ?? null,
  };
}

async function entryOr404(env: Env, id: string): Promise<IndexEntry> {
  const entry = await index(env).get(id);
  if (!entry) throw new AdminError(404, "not_found", `no certificate ${id}`);
  return entry;
}

/**
 * The Worker's HTTP side: http-01 answers for the CA, and the admin API under /admin (bearer token,
 * JSON errors `{ error: { code, message } }`).
 */
export function createApp() {
  const app = new Hono<AppEnv>();

  // Tokens come from the strongly consistent Durable Object store, not KV: the CA validates from
  // several places at once, right after the token was written.
  app.use("/.well-known/acme-challenge/*", (c, next) => acmeChallenge(buildManager(c.env))(c, next));

  app.use("/admin/*", async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    // No token configured: the admin API is closed rather than open.
    if (!c.env.ADMIN_TOKEN || !token || !(await constantTimeEqual(token, c.env.ADMIN_TOKEN))) {
      throw new AdminError(401, "unauthorized", "missing or wrong bearer token");
    }
    await next();
  });

  app.get("/admin/status", async (c) => {
    const idx = index(c.env);
    const [certificates, lastTick] = await Promise.all([idx.count(), idx.lastTick()]);
    return c.json({ certificates, lastTick: lastTick ?? null, directoryUrl: c.env.ACME_DIRECTORY_URL });
  });

  app.post("/admin/certificates", async (c) => {
    const body = await readBody(c.req.raw, ["names", "profile"]);
    const profile = body.profile;
    // draft-ietf-acme-profiles: a profile name; whether the CA offers it is checked when ordering.
    if (profile !== undefined && (typeof profile !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(profile))) {
      throw new AdminError(400, "invalid_profile", "profile must be a profile name the CA lists in its directory (e.g. shortlived)");
    }
    const policy = c.env.ALLOWED_NAMES?.trim() ? hostAllowList(...c.env.ALLOWED_NAMES.split(",").map((s) => s.trim()).filter(Boolean)) : undefined;
    const names = await readNames(body, policy);
    // Without DNS credentials a wildcard can only be validated with dns-persist-01.
    const wildcard = names.find((n) => n.startsWith("*."));
    if (wildcard && !c.env.DNS_PERSIST_RESOLVER) {
      throw new AdminError(400, "wildcard_needs_dns_persist", `${wildcard} needs dns-persist-01: set DNS_PERSIST_RESOLVER, then create the records GET /admin/certificates/:id/dns-persist lists`);
    }
    const id = await certificateId(toIdentifiers(names));
    const now = Date.now();
    const { entry, created } = await index(c.env).add(id, names, now, profile as string | undefined);
    // Issue right away in an invocation of its own; the cron tick retries if this fails.
    if (created) c.executionCtx.waitUntil(renewer(c.env, id).run(entry, now).then(() => undefined));
    return c.json(summary(entry), created ? 202 : 200);
  });

  app.get("/admin/certificates", async (c) => {
    const limit = Math.min(200, Math.max(1, Number(c.req.query("limit") ?? "50") || 50));
    const page = await index(c.env).list(c.req.query("cursor") || undefined, limit);
    return c.json({ certificates: page.entries.map(summary), cursor: page.cursor ?? null });
  });

  app.get("/admin/certificates/:id", async (c) => {
    const entry = await entryOr404(c.env, c.req.param("id"));
    const cert = await buildManager(c.env).find(entry.names);
    const withKey = c.req.query("include") === "privateKey";
    return c.json({
      ...summary(entry),
      certificate: cert ? { chainPem: cert.chainPem, serialNumber: cert.serialNumber, issuer: cert.issuer, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() } : null,
      ...(withKey && cert ? { privateKeyPem: cert.keyPem } : {}),
    });
  });

  // dns-persist-01 (experimental): the records to create once for this certificate, and what DNS shows now.
  app.get("/admin/certificates/:id/dns-persist", async (c) => {
    const resolver = c.env.DNS_PERSIST_RESOLVER;
    if (!resolver) throw new AdminError(404, "dns_persist_off", "dns-persist-01 is not configured (set DNS_PERSIST_RESOLVER)");
    const entry = await entryOr404(c.env, c.req.param("id"));
    const names = entry.names.filter((n) => !isIpAddress(n));
    const needed = await buildManager(c.env).dnsPersistRecords(names);
    const reports = await checkDnsPersistRecords({ names, accountUri: needed.accountUri, issuerDomainNames: needed.issuerDomainNames, resolver });
    return c.json({
      accountUri: needed.accountUri,
      issuerDomainName: needed.issuerDomainName,
      records: needed.records,
      names: reports.map((r) => ({ name: r.name, status: r.status, foundAt: r.foundAt ?? null, problems: r.rejections.map((x) => x.detail) })),
    });
  });

  app.post("/admin/certificates/:id/renew", async (c) => {
    await readBody(c.req.raw, []);
    const entry = await entryOr404(c.env, c.req.param("id"));
    const result = await renewer(c.env, entry.id).run(entry, Date.now(), true);
    if (result.outcome === "failed") throw new AdminError(500, "renewal_failed", result.error ?? "renewal failed");
    return c.json(summary((await index(c.env).get(entry.id))!));
  });

  app.post("/admin/certificates/:id/revoke", async (c) => {
    const body = await readBody(c.req.raw, ["reason"]);
    const reason = body.reason;
    const codes = Object.values(RevocationReason) as number[];
    if (reason !== undefined && (typeof reason !== "number" || !codes.includes(reason))) {
      throw new AdminError(400, "invalid_reason", `reason must be one of ${codes.join(", ")} (RFC 5280 §5.3.1)`);
    }
    const entry = await entryOr404(c.env, c.req.param("id"));
    await buildManager(c.env).revoke(entry.names, reason as RevocationReasonCode | undefined);
    await index(c.env).remove(entry.id);
    return c.json({ id: entry.id, revoked: true });
  });

  app.delete("/admin/certificates/:id", async (c) => {
    const entry = await entryOr404(c.env, c.req.param("id"));
    await buildManager(c.env).remove(entry.names);
    await index(c.env).remove(entry.id);
    return c.json({ id: entry.id, removed: true });
  });

  app.notFound((c) => (c.req.path.startsWith("/admin/") ? errorJson(c, new AdminError(404, "not_found", "no such endpoint")) : c.text("not found", 404)));
  app.onError((err, c) => errorJson(c, err instanceof AdminError ? err : new AdminError(500, "internal", err instanceof Error ? err.message : "internal error")));
  return app;
}

function errorJson(c: Context<AppEnv>, err: AdminError) {
  return c.json({ error: { code: err.code, message: err.message } }, err.status);
}
