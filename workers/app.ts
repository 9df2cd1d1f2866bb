import { dashboardRoutes } from "./hub/dashboard.ts";
import { hubRoutes } from "./hub/routes.ts";
import { webhookRoutes } from "./hub/webhook-routes.ts";
import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { certificateId } from "../src/manager/storage-keys.ts";
import { hostAllowList } from "../src/manager/host-policy.ts";
import { StorageHttp01Solver } from "../src/manager/storage-http01-solver.ts";
import { checkDnsPersistRecords } from "../src/acme/dns-persist/checker.ts";
import { isIpAddress, toIdentifiers } from "../src/acme/identifiers.ts";
import { RevocationReason, type RevocationReasonCode } from "../src/acme/types.ts";
import { acmeChallenge } from "../src/hono/acme-challenge.ts";
import { AdminError, readBody, readNames, readObject, readQuery } from "./admin-body.ts";
import { kickTick } from "./renewal-dispatcher.ts";
import { dispatchOrder } from "./scheduled.ts";
import { registeredDomains } from "./registered-domains.ts";
import { caLimitsFor } from "../src/budget/ca-limits.ts";
import { isEdgecertError } from "../src/errors.ts";
import { adminToken, checkAdminToken, ConfigError, readConfig, setting } from "./config.ts";
import { bearerToken } from "./bearer-token.ts";
import { constantTimeEqual } from "./constant-time.ts";
import type { Env } from "./env.ts";
import { buildManager } from "./manager-factory.ts";
import type { CertificateSummary } from "./certificate-summary.ts";
import { isKeyMismatch, keyMismatchMessage, type Failure } from "./outcome.ts";
import { renewalIndex, type IndexEntry } from "./renewal-index.ts";
import { DEFAULT_PAGE, likePattern, readListQuery } from "./list-query.ts";
import { queuePlace } from "./queue-estimates.ts";
import { resealBatch } from "./reseal.ts";
import { routedStorage } from "./storage.ts";

type AppEnv = { Bindings: Env };

const index = renewalIndex;
const renewer = (env: Env, id: string) => env.CERTIFICATE_RENEWER.get(env.CERTIFICATE_RENEWER.idFromName(id));

/** Certificate ids as {@link certificateId} makes them; anything else cannot name one. */
const ID = /^[A-Za-z0-9._-]{1,100}$/;
const NO_QUERY = {} as const;
/** Read-only listings that need no valid configuration. */
const LISTINGS = new Set(["/admin/certificates", "/admin/queue", "/admin/tokens", "/admin/webhooks", "/admin/webhooks/deliveries"]);
/** GET /admin/queue?ids=: 1 to 200 certificate ids, comma-separated. */
const QUEUE_IDS = /^[A-Za-z0-9._-]{1,100}(?:,[A-Za-z0-9._-]{1,100}){0,199}$/;
/** The index's statuses, and `queued` (waiting for the CA's budget: a `failed` or `failing` one with `queuedFor`). */
const CERTIFICATE_STATES: ReadonlyArray<IndexEntry["status"] | "queued"> = ["pending", "valid", "failing", "failed", "queued"];

function summary(e: IndexEntry): CertificateSummary {
  return {
    id: e.id,
    names: e.names,
    status: e.status,
    notAfter: e.notAfter ? new Date(e.notAfter).toISOString() : null,
    nextWorkAt: new Date(e.dueAt).toISOString(),
    failures: e.failures,
    lastError: e.lastError ?? null,
    nextAttemptAt: e.nextAttemptAt !== undefined ? new Date(e.nextAttemptAt).toISOString() : null,
    profile: e.profile ?? null,
    challenge: e.challenge ?? null,
    issuer: e.issuer ?? null,
    queuedFor: e.queuedFor ?? null,
  };
}

async function entryOr404(env: Env, id: string): Promise<IndexEntry> {
  const entry = ID.test(id) ? await index(env).get(id) : undefined;
  if (!entry) throw new AdminError(404, "not_found", `no certificate ${id.slice(0, 100)}`);
  return entry;
}

const FAILURE_STATUS = { ca_error: 502, budget_spent: 429, not_issued: 409, storage_key_mismatch: 503, configuration_error: 503 } as const;

/** A failed operation as the admin API answers it: never a 5xx for the client's input (see README). */
function failed(failure: Failure | undefined): AdminError {
  const f = failure ?? { code: "ca_error", message: "the operation failed" };
  return new AdminError(FAILURE_STATUS[f.code], f.code, f.message);
}

const CHALLENGES = ["http-01", "dns-01", "dns-persist-01"];
/** What to configure for each challenge type. */
const NEEDS: Record<string, string> = { "dns-01": "CLOUDFLARE_API_TOKEN (wrangler secret put CLOUDFLARE_API_TOKEN)", "dns-persist-01": "DNS_PERSIST_RESOLVER" };

/**
 * The `challenge` member: a type this Worker can answer. A wildcard can only be validated over DNS
 * (RFC 8555 §7.1.3: CAs offer no http-01 for it), so without a DNS solver it is refused up front
 * with a code saying what to configure, rather than accepted and failing forever.
 */
function readChallenge(value: unknown, names: string[], available: readonly string[]): string | undefined {
  if (value !== undefined && (typeof value !== "string" || !CHALLENGES.includes(value))) {
    throw new AdminError(400, "invalid_challenge", `challenge must be one of ${CHALLENGES.join(", ")}`);
  }
  if (value !== undefined && !available.includes(value)) throw new AdminError(400, "challenge_not_configured", `${value} is not configured: set ${NEEDS[value]}`);
  const wildcard = names.find((n) => n.startsWith("*."));
  if (wildcard && value === "http-01") throw new AdminError(400, "invalid_challenge", `${wildcard} is a wildcard: http-01 cannot validate it (RFC 8555 §7.1.3)`);
  if (wildcard && !available.some((c) => c !== "http-01")) {
    throw new AdminError(400, "wildcard_needs_dns_solver", `${wildcard} needs a DNS challenge: set ${NEEDS["dns-01"]} for dns-01, or ${NEEDS["dns-persist-01"]} for dns-persist-01`);
  }
  return value;
}

/** Most certificates one bulk add takes, and the most bytes its body may have. */
const MAX_BULK = 1000;
const MAX_BULK_BODY_BYTES = 512 * 1024;
/** The members a certificate to add may have (POST /admin/certificates, each item of the bulk add). */
const CERTIFICATE_FIELDS = ["names", "profile", "challenge"];

/** A certificate to add, checked. */
interface CertificateRequest {
  id: string;
  names: string[];
  profile?: string;
  challenge?: string;
}

/** ALLOWED_NAMES as a policy (none: any name); an entry that is no name is the variable's error (503), not a 500. */
function namePolicy(env: Env) {
  const allowed = setting(env.ALLOWED_NAMES);
  try {
    return allowed ? hostAllowList(...allowed.split(",").map((s) => s.trim()).filter(Boolean)) : undefined;
  } catch (err) {
    throw new ConfigError("ALLOWED_NAMES", (err as Error).message);
  }
}

/** Checks a certificate to add (names, profile, challenge): typed 400/403 errors as {@link AdminError}. */
async function readCertificate(body: Record<string, unknown>, policy: ReturnType<typeof namePolicy>, challenges: readonly string[]): Promise<CertificateRequest> {
  const profile = body.profile;
  // draft-ietf-acme-profiles: a profile name; whether the CA offers it is checked when ordering.
  if (profile !== undefined && (typeof profile !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(profile))) {
    throw new AdminError(400, "invalid_profile", "profile must be a profile name the CA lists in its directory (e.g. shortlived)");
  }
  const names = await readNames(body, policy);
  const challenge = readChallenge(body.challenge, names, challenges);
  const id = await certificateId(toIdentifiers(names));
  return { id, names, ...(profile !== undefined ? { profile } : {}), ...(challenge !== undefined ? { challenge } : {}) };
}

/**
 * The Worker's HTTP side: http-01 answers for the CA, and the admin API under /admin (bearer token,
 * JSON errors `{ error: { code, message } }`).
 */
export function createApp() {
  const app = new Hono<AppEnv>();

  // Tokens come from the strongly consistent Durable Object store, not KV: the CA validates from
  // several places at once, right after the token was written. They are never sealed, so this answers
  // whatever the rest of the configuration says.
  app.use("/.well-known/acme-challenge/*", (c, next) => acmeChallenge((token: string) => new StorageHttp01Solver(routedStorage(c.env)).response(token))(c, next));

  // The dashboard (/admin/, session cookie) answers before the API's bearer check; it acts through the API.
  app.route("/", dashboardRoutes((c, path, init = {}) => app.fetch(new Request(new URL(path, c.req.url), { ...init, headers: { authorization: `Bearer ${c.env.ADMIN_TOKEN}`, "content-type": "application/json" } }), c.env, c.executionCtx)));

  app.use("/admin/*", async (c, next) => {
    const expected = adminToken(c.env);
    // No token configured (blank counts as none): the admin API is closed rather than open.
    if (!expected) throw new AdminError(503, "admin_disabled", "the admin API is disabled: set the ADMIN_TOKEN secret (wrangler secret put ADMIN_TOKEN)");
    // A weak token opens nothing: not even the right guess of it.
    checkAdminToken(expected);
    const token = bearerToken(c.req.header("authorization"));
    if (!token || !(await constantTimeEqual(token, expected))) throw new AdminError(401, "unauthorized", "missing or wrong bearer token");
    // Listings read only the index and the hub's records: they answer under a configuration error, so
    // the dashboard can show what there is beside the error (GET /admin/status names the variable).
    if (!(c.req.method === "GET" && LISTINGS.has(c.req.path))) await readConfig(c.env);
    await next();
  });

  // Deploy tokens (admin) and the pull API for agents (deploy token): workers/hub/.
  app.route("/", hubRoutes());
  // Webhook endpoints and their delivery log: workers/hub/webhook-*.ts.
  app.route("/", webhookRoutes());

  app.get("/admin/status", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const idx = index(c.env);
    const [certificates, lastTick] = await Promise.all([idx.count(), idx.lastTick()]);
    return c.json({ certificates, lastTick: lastTick ?? null, directoryUrl: c.env.ACME_DIRECTORY_URL });
  });

  app.post("/admin/certificates", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const body = await readBody(c.req.raw, CERTIFICATE_FIELDS);
    const config = await readConfig(c.env);
    const { id, names, profile, challenge } = await readCertificate(body, namePolicy(c.env), config.challenges);
    const now = Date.now();
    const domainOf = await registeredDomains(config.caLimits ?? caLimitsFor(config.directoryUrl));
    const { entry, created } = await index(c.env).add(id, names, now, profile, challenge, now, domainOf?.(names[0]!));
    // Issue right away in an invocation of its own; the cron tick retries if this fails.
    if (created) c.executionCtx.waitUntil(renewer(c.env, id).run(entry, now).then(() => undefined));
    return c.json(summary(entry), created ? 202 : 200);
  });

  // Many certificates in one request (a platform onboarding its customers): all checked first, then
  // all added in one write to the index, and one tick kicked to start them at once (fairly, through
  // the CA's budget) rather than one invocation per request.
  app.post("/admin/certificates/bulk", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const body = await readBody(c.req.raw, ["certificates"], MAX_BULK_BODY_BYTES);
    const list = body.certificates;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BULK) {
      throw new AdminError(400, "invalid_certificates", `certificates must be an array of 1 to ${MAX_BULK} objects, each as POST /admin/certificates takes`);
    }
    const config = await readConfig(c.env);
    const policy = namePolicy(c.env);
    const items: CertificateRequest[] = [];
    for (const [i, item] of list.entries()) {
      try {
        items.push(await readCertificate(readObject(item, CERTIFICATE_FIELDS), policy, config.challenges));
      } catch (err) {
        // Nothing is added when any item is refused: the error says which one.
        if (err instanceof AdminError) throw new AdminError(err.status, err.code, `certificates[${i}]: ${err.message}`);
        throw err;
      }
    }
    const now = Date.now();
    // Due a millisecond apart in the order a tick would hand them out (each registered domain's first
    // name first, then its others spread over the list by its share): a tick claims RENEW_BATCH in due
    // order, so a batch larger than that does not leave the last customers listed for a later tick (at
    // 300 names and RENEW_BATCH 250, the last two customers' first certificates came with the cron a
    // minute later). The last is due now, none later: a kicked tick (this one's, or another request's a
    // moment earlier) finds them all due — due after it, the rest waited for the cron tick (1,000 added:
    // 22 started, or 70 behind another's kick).
    const limits = config.caLimits ?? caLimitsFor(config.directoryUrl);
    const fair = await dispatchOrder(items, limits);
    const dueAt = new Map(fair.map((item, i) => [item, now - fair.length + 1 + i]));
    const domainOf = await registeredDomains(limits);
    const added = await index(c.env).addMany(items.map((item) => ({ ...item, dueAt: dueAt.get(item)!, domain: domainOf?.(item.names[0]!) })), now);
    const created = added.filter((a) => a.created).length;
    if (created > 0) await kickTick(c.env, now);
    return c.json({ created, certificates: added.map((a) => ({ ...summary(a.entry), created: a.created })) }, created > 0 ? 202 : 200);
  });

  app.get("/admin/certificates", async (c) => {
    const query = readListQuery(c.req.url, ID, CERTIFICATE_STATES);
    const page = await index(c.env).list(query.cursor, query.limit, { ...(query.q ? { like: likePattern(query.q) } : {}), ...(query.state ? { status: query.state } : {}) });
    return c.json({ certificates: page.entries.map(summary), cursor: page.cursor ?? null });
  });

  // The certificates waiting for the CA's budget (CA_LIMITS), in the order the cron tick will send them;
  // a page costs its rows and the count of those ahead up to EXACT_POSITIONS, whatever the queue's length.
  // `ids`: only those of these certificates that wait, in queue order (the dashboard's page in one call).
  app.get("/admin/queue", async (c) => {
    const query = readQuery(c.req.url, { limit: /^(?:[1-9][0-9]?|1[0-9][0-9]|200)$/, cursor: /^[0-9]{1,16}~[A-Za-z0-9._-]{1,100}$/, ids: QUEUE_IDS });
    if (query.ids !== undefined) {
      if (query.limit !== undefined || query.cursor !== undefined) throw new AdminError(400, "invalid_parameter", "ids is not paged: give it without limit and cursor");
      const { queued, total } = await index(c.env).queuePositions(query.ids.split(","));
      return c.json({ total, queued: queued.map((q) => ({ ...summary(q.entry), ...queuePlace(q) })), cursor: null });
    }
    const limit = query.limit ? Number(query.limit) : DEFAULT_PAGE;
    const [at, id] = query.cursor ? query.cursor.split("~") : [];
    const page = await index(c.env).queuePage(at !== undefined && id !== undefined ? { at: Number(at), id } : undefined, limit);
    return c.json({
      total: page.total,
      queued: page.queued.map((q) => ({ ...summary(q.entry), ...queuePlace(q) })),
      cursor: page.cursor ?? null,
    });
  });

  app.get("/admin/certificates/:id", async (c) => {
    const query = readQuery(c.req.url, { include: /^privateKey$/ });
    const entry = await entryOr404(c.env, c.req.param("id"));
    const cert = await (await buildManager(c.env)).find(entry.names);
    const queued = entry.queuedFor ? await index(c.env).queuePosition(entry.id) : undefined;
    return c.json({
      ...summary(entry),
      // Waiting for the CA's budget: where it is among those waiting, and when it is expected to go.
      queue: queued ? { ...queuePlace(queued), blockedBy: entry.queuedFor } : null,
      certificate: cert ? { chainPem: cert.chainPem, serialNumber: cert.serialNumber, issuer: cert.issuer, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() } : null,
      ...(query.include === "privateKey" && cert ? { privateKeyPem: cert.keyPem } : {}),
    });
  });

  // The CAA record that lets only this CA and account issue for a domain (RFC 8659, RFC 8657 accounturi).
  app.get("/admin/caa", async (c) => {
    const query = readQuery(c.req.url, { domain: /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+\.?$/i, wildcard: /^(true|false)$/, caaIdentity: /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i });
    if (!query.domain) throw new AdminError(400, "invalid_parameter", "domain is required, e.g. /admin/caa?domain=example.com");
    const manager = await buildManager(c.env);
    const record = await manager.pinningCaaRecord(query.domain, { wildcard: query.wildcard === "true", ...(query.caaIdentity ? { caaIdentities: [query.caaIdentity] } : {}) }).catch((err: unknown) => {
      if (isEdgecertError(err, "invalid_input")) throw new AdminError(409, "no_caa_identity", `${err.message.replace(/give it as caaCheck.caaIdentities$/, "give it as ?caaIdentity=")}`);
      throw err;
    });
    return c.json({ domain: query.domain, record });
  });

  // dns-persist-01 (experimental): the records to create once for this certificate, and what DNS shows now.
  app.get("/admin/certificates/:id/dns-persist", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const resolver = setting(c.env.DNS_PERSIST_RESOLVER);
    if (!resolver) throw new AdminError(404, "dns_persist_off", "dns-persist-01 is not configured (set DNS_PERSIST_RESOLVER)");
    const entry = await entryOr404(c.env, c.req.param("id"));
    const names = entry.names.filter((n) => !isIpAddress(n));
    const needed = await (await buildManager(c.env)).dnsPersistRecords(names);
    const reports = await checkDnsPersistRecords({ names, accountUri: needed.accountUri, issuerDomainNames: needed.issuerDomainNames, resolver });
    return c.json({
      accountUri: needed.accountUri,
      issuerDomainName: needed.issuerDomainName,
      records: needed.records,
      names: reports.map((r) => ({ name: r.name, status: r.status, foundAt: r.foundAt ?? null, problems: r.rejections.map((x) => x.detail) })),
    });
  });

  app.post("/admin/certificates/:id/renew", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    await readBody(c.req.raw, []);
    const entry = await entryOr404(c.env, c.req.param("id"));
    const result = await renewer(c.env, entry.id).run(entry, Date.now(), true);
    if (result.outcome === "gone") throw new AdminError(404, "not_found", `no certificate ${entry.id}`);
    if (result.outcome === "failed") throw failed(result.failure);
    return c.json(summary((await entryOr404(c.env, entry.id))));
  });

  app.post("/admin/certificates/:id/revoke", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    const body = await readBody(c.req.raw, ["reason"]);
    const reason = body.reason;
    const codes = Object.values(RevocationReason) as number[];
    if (reason !== undefined && (typeof reason !== "number" || !codes.includes(reason))) {
      throw new AdminError(400, "invalid_reason", `reason must be one of ${codes.join(", ")} (RFC 5280 §5.3.1)`);
    }
    const entry = await entryOr404(c.env, c.req.param("id"));
    // In the certificate's renewer: under its lock, on the stored record (not a KV edge read).
    const result = await renewer(c.env, entry.id).revoke(entry.id, entry.names, reason as RevocationReasonCode | undefined);
    if (!result.ok) throw failed(result.failure);
    return c.json({ id: entry.id, revoked: true });
  });

  app.delete("/admin/certificates/:id", async (c) => {
    readQuery(c.req.url, NO_QUERY);
    await readBody(c.req.raw, []);
    const entry = await entryOr404(c.env, c.req.param("id"));
    const result = await renewer(c.env, entry.id).remove(entry.id, entry.names);
    if (!result.ok) throw failed(result.failure);
    return c.json({ id: entry.id, removed: true });
  });

  // Brings every key-bearing record to the current encryption setting now (instead of on its next
  // write): after turning encryption on, rotating the key (then PREVIOUS can go), or turning it off.
  app.post("/admin/storage/reseal", async (c) => {
    const query = readQuery(c.req.url, { cursor: /^[0-9]\.[\x21-\x7e]{0,2000}$/ });
    await readBody(c.req.raw, []);
    const { encryption } = await readConfig(c.env);
    if (!encryption) throw new AdminError(409, "encryption_not_configured", "storage encryption is not configured (set STORAGE_ENCRYPTION_KEY; see README)");
    const report = await resealBatch(c.env, encryption, query.cursor);
    if (report.unopenable.length) {
      return c.json({ error: { code: "storage_key_mismatch", message: keyMismatchMessage(`${report.unopenable.length} record(s) cannot be opened`) }, ...report }, 503);
    }
    return c.json(report);
  });

  app.notFound((c) => (c.req.path.startsWith("/admin/") ? errorJson(c, new AdminError(404, "not_found", "no such endpoint")) : c.text("not found", 404)));
  app.onError((err, c) => errorJson(c, toAdminError(err)));
  return app;
}

/** An error as the admin API answers it: configuration and storage-key problems are 503s that say what to fix. */
function toAdminError(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  if (err instanceof ConfigError) return new AdminError(503, "configuration_error", err.message);
  if (isKeyMismatch(err)) return new AdminError(503, "storage_key_mismatch", keyMismatchMessage((err as Error).message));
  // A malformed percent-escape in the path: the client's input.
  if (err instanceof URIError) return new AdminError(400, "invalid_path", "the path is not valid percent-encoding");
  return new AdminError(500, "internal", err instanceof Error ? err.message : "internal error");
}

function errorJson(c: Context<AppEnv>, err: AdminError) {
  return c.json({ error: { code: err.code, message: err.message } }, err.status);
}
