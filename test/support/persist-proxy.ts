/**
 * A stand-in CA for what Pebble 2.4 lacks: dns-persist-01 (draft-ietf-acme-dns-persist, editor's copy of
 * 2026-07-27 — the revision src/acme/dns-persist/rules.ts implements) and certificate profiles
 * (draft-ietf-acme-profiles). It is a reverse proxy in front of a real Pebble; everything else is Pebble.
 *
 * THIS IS A STAND-IN, written from the draft's text, independent of edgecert's own rules module (its
 * record parser and checks are separate code, so a mistake in the library is not mirrored here).
 *
 * How it works:
 * - Every request is forwarded to Pebble with the client's own `Host`, so every URL Pebble returns points
 *   back at the proxy, under whichever host name the client used.
 * - Directory: adds `meta.profiles` (when configured) and `meta.caaIdentities` = the issuer domain names
 *   (the pre-provisioning hint of draft §4.5).
 * - Authorizations for DNS identifiers get one more challenge, `dns-persist-01` (§3.1), with `accounturi` =
 *   the account URL of the requester (the JWS `kid`, mode 3a of §4.1) and `issuer-domain-names`. It takes
 *   the place of Pebble's dns-01 challenge and has its URL (the stand-in CA offers dns-persist-01 instead
 *   of dns-01; http-01 and tls-alpn-01 stay): the client's signed POST can then be relayed to Pebble
 *   unchanged, since Pebble checks the JWS `url` and `kid` against its own URLs, and a POST to that URL can
 *   only be the dns-persist-01 answer.
 * - When the client answers dns-persist-01, the proxy performs the draft's validation itself against
 *   challtestsrv's DNS (the checks below, each citing its section). Only if it succeeds does it complete
 *   Pebble's authorization: it has challtestsrv serve the dns-01 answer for the underlying Pebble challenge
 *   (`_acme-challenge.<name>` = base64url(SHA-256(token "." JWK thumbprint)), RFC 8555 §8.4, the account
 *   key learnt from the newAccount request) and relays the POST, so Pebble's own VA marks it valid. If it
 *   fails, the challenge and its authorization (and the order) are reported `invalid` with the problem type
 *   §9.3.1 names (`malformed` or `unauthorized`), and Pebble is never asked.
 * - Optional: a made-up challenge type (and a malformed entry) beside the usual ones, to prove clients
 *   ignore what they do not know.
 * - Profiles: `newOrder` with a profile the directory does not list is refused with `invalidProfile`;
 *   otherwise the order echoes its profile (Pebble 2.4 ignores it). `echoProfile` can make it lie.
 *
 * Validation checks (draft sections):
 * - §4: records are read at `_validation-persist.<FQDN>`; a TXT record's character-strings are joined (§9.1).
 * - §4.3.2: records whose issuer-domain-name is not one of the challenge's are ignored; any one matching
 *   record that meets every requirement suffices.
 * - §4.1 item 1: RFC 8659 §4.2 issue-value syntax; unknown tags ignored; §9.3.1 duplicate parameters malformed.
 * - §3.1/§4.2: issuer domain names compared after case-folding.
 * - §4.1 item 3: `accounturi` compared with Simple String Comparison (RFC 3986 §6.2.1) to the requester.
 * - §4.1 item 4: `policy` value compared case-insensitively; only `wildcard` means anything.
 * - §4.1 item 5: `persistUntil` must be base-10 digits, and not in the past for a new validation.
 * - §5.1, §6.1, §6.2: a wildcard, or a subdomain validated through a parent's record, needs `policy=wildcard`.
 * @module
 */
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { Resolver } from "node:dns/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "undici";
import { agentFetch } from "./agent-fetch.ts";
import type { PebbleInstance } from "./pebble.ts";

const ACME_ERROR = "urn:ietf:params:acme:error:";
const MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link startPersistProxy}. */
export interface PersistProxyOptions {
  /** Issuer domain names the stand-in CA discloses (1–10, normalized). Default `["persist.stand-in.test"]`. */
  issuerDomainNames?: string[];
  /** Override what goes into the challenge's `issuer-domain-names` (to send malformed challenges). */
  challengeIssuerDomainNames?: unknown;
  /** Offered profiles (directory `meta.profiles`); none when omitted. */
  profiles?: Record<string, string>;
  /** The profile the order echoes for a requested one (default: the requested one). */
  echoProfile?: (requested: string | undefined) => string | undefined;
  /** Also offer a challenge type no specification defines, and a malformed challenge entry. */
  madeUpChallenges?: boolean;
  /** Clock for `persistUntil` (ms). Default `Date.now`. */
  now?: () => number;
}

/** A validation the stand-in performed. */
export interface PersistValidation {
  identifier: string;
  wildcard: boolean;
  accountUri: string;
  ok: boolean;
  /** `malformed` or `unauthorized` (§9.3.1) when it failed. */
  problemType?: string;
  detail: string;
}

/** A running stand-in. */
export interface PersistProxy {
  /** `https://127.0.0.1:<port>/dir`. */
  directoryUrl: string;
  /** Trusts the proxy's certificate (and Pebble's). Reaches plain-HTTP loopback too. */
  fetch: typeof fetch;
  caPem: string;
  /** Every dns-persist-01 validation performed, in order. */
  validations: PersistValidation[];
  /** The `profile` member of every newOrder payload seen. */
  requestedProfiles: Array<string | undefined>;
  close(): Promise<void>;
}

/** RFC 7638 thumbprint of an EC, RSA or OKP public JWK. */
function thumbprint(jwk: Record<string, unknown>): string {
  const members = jwk.kty === "EC" ? ["crv", "kty", "x", "y"] : jwk.kty === "RSA" ? ["e", "kty", "n"] : ["crv", "kty", "x"];
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(",")}}`;
  return createHash("sha256").update(canonical).digest("base64url");
}

function decodeJws(body: Buffer): { header: Record<string, unknown>; payload: unknown } | undefined {
  try {
    const jws = JSON.parse(body.toString("utf8")) as { protected: string; payload: string };
    const header = JSON.parse(Buffer.from(jws.protected, "base64url").toString("utf8")) as Record<string, unknown>;
    const payload = jws.payload === "" ? undefined : (JSON.parse(Buffer.from(jws.payload, "base64url").toString("utf8")) as unknown);
    return { header, payload };
  } catch {
    return undefined;
  }
}

async function selfSigned(): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), "edgecert-persist-proxy-"));
  try {
    await new Promise<void>((resolve, reject) =>
      execFile(
        "openssl",
        [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "7", "-sha256",
          "-subj", "/CN=edgecert dns-persist-01 stand-in",
          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
          "-addext", "extendedKeyUsage=serverAuth",
        ],
        { timeout: 15_000 },
        (err, _o, stderr) => (err ? reject(new Error(`openssl: ${stderr || err.message}`)) : resolve()),
      ),
    );
    return { key: await readFile(join(dir, "key.pem"), "utf8"), cert: await readFile(join(dir, "cert.pem"), "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- the draft's record rules, server side (written separately from src/acme/dns-persist/rules.ts) ----

interface StandInRecord {
  issuer: string;
  params: Map<string, string>;
}

/** RFC 8659 §4.2 issue-value; throws a string describing the syntax error. */
function parseIssueValue(rdata: string): StandInRecord {
  const m = /^[ \t]*([^; \t]*)[ \t]*(?:;(.*))?$/s.exec(rdata);
  if (!m) throw "not an issue-value";
  const issuer = m[1]!;
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(issuer)) throw "no issuer-domain-name";
  const params = new Map<string, string>();
  const rest = (m[2] ?? "").replace(/^[ \t]+|[ \t]+$/g, "");
  if (rest.length > 0) {
    for (const part of rest.split(";")) {
      const p = /^[ \t]*([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)[ \t]*=[ \t]*([\x21-\x3a\x3c-\x7e]*)[ \t]*$/.exec(part);
      if (!p) throw `bad parameter ${JSON.stringify(part)}`;
      if (params.has(p[1]!)) throw `duplicate parameter ${p[1]}`; // §9.3.1
      params.set(p[1]!, p[3]!);
    }
  }
  return { issuer: issuer.toLowerCase(), params };
}

/**
 * The stand-in's validation of one authorization (draft §4.2, §4.3.2, §5, §6). Returns undefined on
 * success, else the problem to report.
 */
async function validate(
  resolver: Resolver,
  identifier: string,
  wildcard: boolean,
  accountUri: string,
  issuers: readonly string[],
  nowMs: number,
): Promise<{ type: "malformed" | "unauthorized"; detail: string } | undefined> {
  const labels = identifier.split(".");
  const notes: Array<{ type: "malformed" | "unauthorized"; detail: string }> = [];
  // The name itself, then its parents (a parent's record can cover a subdomain, §6.1).
  for (let i = 0; i === 0 || i + 1 < labels.length; i++) {
    const validated = labels.slice(i).join(".");
    const location = `_validation-persist.${validated}`;
    let rrs: string[][] = [];
    try {
      rrs = await resolver.resolveTxt(location);
    } catch {
      rrs = []; // NXDOMAIN / NODATA
    }
    for (const strings of rrs) {
      const rdata = strings.join(""); // §9.1: one record's character-strings form one RDATA
      let rec: StandInRecord;
      try {
        rec = parseIssueValue(rdata);
      } catch (why) {
        const head = rdata.split(";")[0]!.trim().toLowerCase();
        if (issuers.includes(head)) notes.push({ type: "malformed", detail: `${location}: ${String(why)}` });
        continue;
      }
      if (!issuers.includes(rec.issuer)) continue; // §4.3.2 step 2: other issuers' records are ignored
      const uri = rec.params.get("accounturi");
      if (uri === undefined) {
        notes.push({ type: "malformed", detail: `${location}: no accounturi` });
        continue;
      }
      const until = rec.params.get("persistUntil");
      if (until !== undefined && !/^\d+$/.test(until)) {
        notes.push({ type: "malformed", detail: `${location}: persistUntil is not a base-10 integer` });
        continue;
      }
      if (uri !== accountUri) {
        notes.push({ type: "unauthorized", detail: `${location}: accounturi ${uri} does not identify the requesting account` });
        continue;
      }
      if (until !== undefined && Number(until) * 1000 < nowMs) {
        notes.push({ type: "unauthorized", detail: `${location}: persistUntil has passed` });
        continue;
      }
      const policyWildcard = (rec.params.get("policy") ?? "").toLowerCase() === "wildcard";
      const needsPolicy = wildcard || i > 0;
      if (needsPolicy && !policyWildcard) {
        notes.push({ type: "unauthorized", detail: `${location}: ${wildcard ? "a wildcard" : "a subdomain"} needs policy=wildcard` });
        continue;
      }
      return undefined;
    }
  }
  if (notes.length === 0) return { type: "unauthorized", detail: `no _validation-persist record for ${issuers.join(" / ")} at ${identifier} or a parent` };
  const malformed = notes.find((n) => n.type === "malformed");
  return notes.find((n) => n.type === "unauthorized") ?? malformed!;
}

// ---- the proxy ----

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Starts the stand-in in front of `pebble` on 127.0.0.1:0 (HTTPS). */
export async function startPersistProxy(pebble: PebbleInstance, options: PersistProxyOptions = {}): Promise<PersistProxy> {
  const issuers = options.issuerDomainNames ?? ["persist.stand-in.test"];
  const now = options.now ?? Date.now;
  const upstream = new URL(pebble.directoryUrl);
  const upstreamAgent = new https.Agent({ keepAlive: true, ca: pebble.caPem });
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([`127.0.0.1:${pebble.dnsPort}`]);
  const tls = await selfSigned();

  const accountKeys = new Map<string, Record<string, unknown>>(); // account URL -> JWK
  const orderProfiles = new Map<string, string | undefined>(); // order path -> echoed profile
  const failed = new Map<string, { type: string; detail: string }>(); // authz path -> problem
  const persistChallenges = new Map<string, { authzPath: string; identifier: string; wildcard: boolean; token: string }>();
  const validations: PersistValidation[] = [];
  const requestedProfiles: Array<string | undefined> = [];
  let port = 0;

  const forward = (req: http.IncomingMessage, body: Buffer | undefined, path = req.url ?? "/", method = req.method ?? "GET"): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (["connection", "keep-alive", "transfer-encoding", "content-length", "accept-encoding"].includes(name)) continue;
        headers[name] = value;
      }
      if (body && body.length > 0) headers["content-length"] = body.length;
      const r = https.request(
        { host: upstream.hostname, port: upstream.port, method, path, headers, agent: upstreamAgent, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.once("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.once("error", reject);
        },
      );
      r.once("timeout", () => r.destroy(new Error("upstream timed out")));
      r.once("error", reject);
      r.end(body && body.length > 0 ? body : undefined);
    });

  const freshNonce = async (req: http.IncomingMessage): Promise<string | undefined> => {
    const res = await forward(req, undefined, "/nonce-plz", "HEAD");
    return res.headers["replay-nonce"] as string | undefined;
  };

  const send = (res: http.ServerResponse, up: Upstream, json?: unknown): void => {
    const body = json === undefined ? up.body : Buffer.from(JSON.stringify(json));
    for (const [name, value] of Object.entries(up.headers)) {
      if (["connection", "keep-alive", "transfer-encoding", "content-length"].includes(name) || value === undefined) continue;
      res.setHeader(name, value);
    }
    res.setHeader("content-length", body.length);
    res.statusCode = up.status;
    res.end(body);
  };

  const problem = (res: http.ServerResponse, status: number, type: string, detail: string, nonce?: string): void => {
    const body = Buffer.from(JSON.stringify({ type: `${ACME_ERROR}${type}`, detail, status }));
    res.writeHead(status, { "content-type": "application/problem+json", "content-length": body.length, ...(nonce ? { "replay-nonce": nonce } : {}) });
    res.end(body);
  };

  /** Adds dns-persist-01 (and optionally made-up types) to an authorization Pebble returned. */
  const rewriteAuthz = (authz: Record<string, unknown>, authzPath: string, kid: string | undefined): Record<string, unknown> => {
    const identifier = authz.identifier as { type: string; value: string };
    const challenges = [...((authz.challenges as Array<Record<string, unknown>>) ?? [])];
    const dns01 = challenges.find((c) => c.type === "dns-01");
    const failure = failed.get(authzPath);
    if (identifier.type === "dns" && dns01 && kid) {
      const pebbleUrl = new URL(dns01.url as string);
      persistChallenges.set(pebbleUrl.pathname, { authzPath, identifier: identifier.value, wildcard: authz.wildcard === true, token: dns01.token as string });
      challenges.splice(challenges.indexOf(dns01), 1);
      challenges.push({
        type: "dns-persist-01",
        url: dns01.url,
        status: failure ? "invalid" : dns01.status,
        accounturi: kid, // §4.1 item 3, mode 3a: the ACME account URL
        "issuer-domain-names": options.challengeIssuerDomainNames ?? issuers,
        ...(failure ? { error: failure } : {}),
        ...(dns01.validated ? { validated: dns01.validated } : {}),
      });
    }
    if (options.madeUpChallenges) {
      challenges.unshift({ type: "made-up-07", url: `https://127.0.0.1:${port}/made-up/1`, status: "pending", "nonce-ish": [1, 2, 3], token: { nested: true } });
      challenges.push({ type: 42, status: "pending" } as unknown as Record<string, unknown>);
      challenges.push({ type: "dns-account-01", url: `https://127.0.0.1:${port}/made-up/2`, status: "pending" });
    }
    return { ...authz, challenges, ...(failure ? { status: "invalid" } : {}) };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY_BYTES) return problem(res, 413, "malformed", "body too large");
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    const path = (req.url ?? "/").split("?")[0]!;
    const jws = req.method === "POST" ? decodeJws(body) : undefined;
    const kid = typeof jws?.header.kid === "string" ? jws.header.kid : undefined;

    if (req.method === "GET" && path === "/dir") {
      const up = await forward(req, undefined);
      const dir = JSON.parse(up.body.toString("utf8")) as Record<string, unknown>;
      const meta = { ...((dir.meta as Record<string, unknown>) ?? {}), caaIdentities: issuers, ...(options.profiles ? { profiles: options.profiles } : {}) };
      return send(res, up, { ...dir, meta });
    }

    if (req.method === "POST" && path.startsWith("/sign-me-up")) {
      const up = await forward(req, body);
      const location = up.headers.location;
      if (typeof location === "string" && jws && typeof jws.header.jwk === "object") accountKeys.set(location, jws.header.jwk as Record<string, unknown>);
      return send(res, up);
    }

    if (req.method === "POST" && path.startsWith("/order-plz")) {
      const requested = (jws?.payload as { profile?: unknown } | undefined)?.profile;
      requestedProfiles.push(typeof requested === "string" ? requested : undefined);
      if (typeof requested === "string" && !(options.profiles && requested in options.profiles)) {
        // draft-ietf-acme-profiles: an unknown profile is refused with invalidProfile.
        return problem(res, 400, "invalidProfile", `profile ${JSON.stringify(requested)} is not offered`, await freshNonce(req));
      }
      const up = await forward(req, body);
      const location = up.headers.location;
      if (up.status !== 201 || typeof location !== "string") return send(res, up);
      const echoed = options.echoProfile ? options.echoProfile(requested as string | undefined) : (requested as string | undefined);
      orderProfiles.set(new URL(location).pathname, echoed);
      const order = JSON.parse(up.body.toString("utf8")) as Record<string, unknown>;
      return send(res, up, echoed === undefined ? order : { ...order, profile: echoed });
    }

    if (req.method === "POST" && (path.startsWith("/my-order/") || path.startsWith("/finalize-order/"))) {
      const up = await forward(req, body);
      const orderPath = path.startsWith("/finalize-order/") ? path.replace("/finalize-order/", "/my-order/") : path;
      if (up.status !== 200) return send(res, up);
      const order = JSON.parse(up.body.toString("utf8")) as Record<string, unknown>;
      const authzFailed = ((order.authorizations as string[]) ?? []).map((u) => failed.get(new URL(u).pathname)).find(Boolean);
      const echoed = orderProfiles.get(orderPath);
      return send(res, up, {
        ...order,
        ...(echoed !== undefined ? { profile: echoed } : {}),
        ...(authzFailed ? { status: "invalid", error: authzFailed } : {}),
      });
    }

    if (req.method === "POST" && path.startsWith("/authZ/")) {
      const up = await forward(req, body);
      if (up.status !== 200) return send(res, up);
      return send(res, up, rewriteAuthz(JSON.parse(up.body.toString("utf8")) as Record<string, unknown>, path, kid));
    }

    const target = req.method === "POST" ? persistChallenges.get(path) : undefined;
    if (target && kid) {
      const persistObject = (ch: Record<string, unknown>) => {
        const { token: _token, ...rest } = ch;
        return { ...rest, type: "dns-persist-01", accounturi: kid, "issuer-domain-names": options.challengeIssuerDomainNames ?? issuers };
      };
      // The dns-persist-01 challenge was answered (a POST-as-GET of it only reads it).
      const answering = jws?.payload !== undefined;
      if (answering && !failed.has(target.authzPath)) {
        const result = await validate(resolver, target.identifier, target.wildcard, kid, issuers, now());
        validations.push({
          identifier: target.identifier,
          wildcard: target.wildcard,
          accountUri: kid,
          ok: result === undefined,
          ...(result ? { problemType: result.type } : {}),
          detail: result?.detail ?? "valid",
        });
        if (result) {
          failed.set(target.authzPath, { type: `${ACME_ERROR}${result.type}`, detail: result.detail, status: 403 } as never);
        } else {
          const jwk = accountKeys.get(kid);
          if (!jwk) return problem(res, 400, "accountDoesNotExist", "the stand-in did not see this account being created", await freshNonce(req));
          const digest = createHash("sha256").update(`${target.token}.${thumbprint(jwk)}`).digest("base64url");
          await pebble.setTxt(`_acme-challenge.${target.identifier}`, digest);
        }
      }
      const failure = failed.get(target.authzPath);
      if (failure) {
        // Pebble never saw this answer: report the stand-in's verdict.
        const nonce = await freshNonce(req);
        const out = Buffer.from(JSON.stringify({ ...persistObject({ url: `https://${req.headers.host}${path}` }), status: "invalid", error: failure }));
        res.writeHead(200, { "content-type": "application/json", "content-length": out.length, ...(nonce ? { "replay-nonce": nonce } : {}), link: `<https://${req.headers.host}${target.authzPath}>;rel="up"` });
        return void res.end(out);
      }
      const up = await forward(req, body);
      if (up.status !== 200) return send(res, up);
      return send(res, up, persistObject(JSON.parse(up.body.toString("utf8")) as Record<string, unknown>));
    }

    const up = await forward(req, req.method === "GET" || req.method === "HEAD" ? undefined : body);
    return send(res, up);
  };

  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) problem(res, 500, "serverInternal", `stand-in: ${String(err)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;

  const agent = new Agent({ connect: { ca: [tls.cert, pebble.caPem] } });

  return {
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    fetch: agentFetch(agent),
    caPem: tls.cert,
    validations,
    requestedProfiles,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstreamAgent.destroy();
      await agent.close().catch(() => undefined);
    },
  };
}
