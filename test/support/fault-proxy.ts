/**
 * Fault-injecting reverse proxy in front of Pebble, for tests and benchmarks.
 *
 * The proxy listens on 127.0.0.1 (plain HTTP by default, HTTPS with `tls: true`)
 * and forwards every request to the upstream Pebble. Rules ({@link FaultRule})
 * select requests by method/path/ordinal/probability and replace, delay or
 * corrupt the exchange.
 *
 * How URLs end up pointing at the proxy: Pebble builds every URL it returns
 * (directory, Location, Link, order/authz/challenge/cert URLs) from the
 * request's `Host` header and `X-Forwarded-Proto` (falling back to "https"
 * because its listener is TLS). So the proxy sends `Host: <proxy host:port>`
 * and `X-Forwarded-Proto: <proxy scheme>` upstream; no body rewriting is needed
 * (and rewriting could not work for POSTs: the signed JWS `url` must match).
 *
 * Caveat (verified against Pebble 2.4): the JWS `url` check compares against
 * `https://<Host><RequestURI>`, hard-coding https and ignoring X-Forwarded-Proto.
 * With the default plain-HTTP proxy every signed POST therefore fails with
 * `malformed` "JWS header parameter 'url' incorrect". Use `tls: true` (and
 * {@link FaultProxy.fetch} / {@link FaultProxy.caPem}) for full ACME flows;
 * plain HTTP is fine for GET/HEAD-only tests (directory, nonces).
 *
 * undici's `fetch` (and so `PebbleInstance.fetch`) always deletes a caller's
 * `Host` header, so forwarding is done with `node:https` directly. Pass
 * `upstreamCa` (Pebble's `caPem`) to verify Pebble's certificate; without it
 * the proxy only accepts a loopback upstream and skips verification.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "undici";
import { agentFetch } from "./agent-fetch.ts";
import { seededRandom } from "./seeded-random.ts";

/** What to do with a matched request. */
export type Fault =
  /**
   * Answer without contacting upstream (so a POST's nonce is NOT consumed by Pebble) with an RFC 7807 `application/problem+json`
   * body. `problemType` defaults to `urn:ietf:params:acme:error:rateLimited` for 429,
   * `...:malformed` for other 4xx and `...:serverInternal` otherwise. No
   * Replay-Nonce unless `withNonce` (then a real nonce is fetched from upstream).
   */
  | {
      kind: "status";
      status: number;
      retryAfter?: string;
      problemType?: string;
      detail?: string;
      withNonce?: boolean;
      /**
       * Forward first and answer the status in place of upstream's response (a gateway error after
       * the CA acted: the order, finalize, ... did happen). Upstream's Replay-Nonce is passed on.
       */
      afterUpstream?: boolean;
    }
  /**
   * Destroy the client socket without any response: before forwarding (default: the CA never saw the
   * request), or with `afterUpstream` once upstream answered (the CA acted, the answer is lost).
   */
  | { kind: "reset"; afterUpstream?: boolean }
  /** Forward, but hold the response back `ms` milliseconds (capped at {@link MAX_DELAY_MS}). */
  | { kind: "delay"; ms: number }
  /**
   * Forward, but hold the response back until `until` settles (at most {@link MAX_DELAY_MS}): for a
   * fault that must land while the request is in flight, whatever the machine's speed.
   */
  | { kind: "hold"; until: Promise<unknown> }
  /**
   * Forward, but never answer: hold the response until the client gives up (closes the connection), at
   * most {@link MAX_DELAY_MS}. A stall past the client's request timeout, whatever the machine's speed
   * (a fixed delay a late timer can outlast is answered before the client gives up).
   */
  | { kind: "stall" }
  /** Forward, then replace the body (default `<html>oops`, `text/html`); status and other headers kept. */
  | { kind: "garbage"; body?: string; contentType?: string }
  /** Forward, announce the full Content-Length, send the first half of the body, then destroy the socket. */
  | { kind: "truncate" }
  /** Forward, then send `bytes` bytes of JSON-ish junk (`{"a":"xxxx…`) with the upstream status/headers. */
  | { kind: "oversize"; bytes: number }
  /** Forward, but strip the Replay-Nonce header. */
  | { kind: "dropNonce" }
  /** Forward unchanged but set these response headers (a function gets the request path). */
  | { kind: "setHeaders"; headers: Record<string, string> | ((path: string) => Record<string, string>) }
    /** Forward the body unchanged but replace Content-Type. */
  | { kind: "wrongContentType"; contentType: string }
  /**
   * Forward, parse the upstream JSON body (`undefined` when empty, the raw text when
   * not JSON) and send `JSON.stringify(edit(json, req))` instead (empty if it returns
   * undefined). `headers` are added/overridden; `status` overrides the upstream status.
   */
  | {
      kind: "rewriteJson";
      edit: (json: unknown, req: { method: string; path: string }) => unknown;
      headers?: Record<string, string>;
      status?: number;
    }
  /** Answer without contacting upstream (a POST's nonce is NOT consumed by Pebble). */
  | { kind: "respond"; status: number; body: string; headers?: Record<string, string> };

/** Selects requests and the fault applied to them. */
export interface FaultRule {
  /** HTTP method (case-insensitive). Any method when omitted. */
  method?: string;
  /**
   * Request target matcher, always applied to path + query (e.g. `/nonce-plz`):
   * a string matches by prefix, a RegExp is tested, a function is called.
   * Any path when omitted.
   */
  path?: string | RegExp | ((path: string) => boolean);
  /** First matching request (1-based) the fault applies to. Default 1. */
  nth?: number;
  /** Number of consecutive matching requests the fault applies to. Default 1, or Infinity with `probability`. */
  times?: number;
  /** Within the nth/times window, apply with this probability (seeded PRNG, deterministic). */
  probability?: number;
  /**
   * Decides per request instead of {@link fault}: the fault to apply, or undefined for none (then the
   * next rule may fire). For fault mixes drawn by the caller (e.g. a chaos test keyed by its own seed).
   */
  pick?: (request: { method: string; path: string; hasPayload: boolean }) => Fault | undefined;
  /**
   * For POSTs: only JWS with a payload (`"payload"`, e.g. a challenge accept `{}`) or only POST-as-GET
   * (`"post-as-get"`, RFC 8555 §6.3). Any when omitted.
   */
  body?: "payload" | "post-as-get";
  /** The fault; ignored when {@link pick} is given. */
  fault?: Fault;
}

/** Options for {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Origin of the upstream ACME server, e.g. `https://127.0.0.1:14000` (a path is ignored). */
  upstream: string;
  /**
   * Pebble's trusting fetch. Accepted for API compatibility but NOT used for
   * forwarding: undici's fetch always drops a caller-supplied `Host` header.
   */
  upstreamFetch?: typeof fetch;
  /** PEM CA trusted for an https upstream (`PebbleInstance.caPem`). Without it, only a loopback upstream is allowed, unverified. */
  upstreamCa?: string;
  /** Seed of the PRNG behind `probability` rules. Default 1. */
  seed?: number;
  /**
   * Serve HTTPS with a freshly generated self-signed certificate (see {@link FaultProxy.caPem}).
   * Default false. Needed for signed POSTs against Pebble 2.4 (see the module note).
   */
  tls?: boolean;
}

/** One request seen by the proxy. */
export interface ProxiedRequest {
  method: string;
  /** Path + query as received. */
  path: string;
  /** Status sent to the client; 0 while in flight or when no response was sent (reset, truncate sends the status). */
  status: number;
  /** Kind of the fault applied, if any. */
  fault?: Fault["kind"];
  /** The status upstream (the CA) answered, when the request was forwarded and answered: what the CA did. */
  upstreamStatus?: number;
  /** Upstream's `Location` header, when it sent one (e.g. the order a newOrder created). */
  upstreamLocation?: string;
  /** `nonce` from the JWS protected header of a POST body, if parseable. */
  nonceSent?: string;
  /** The decoded JWS payload of a POST, when it had one (POST-as-GET has none). */
  payload?: unknown;
  /**
   * Upstream's JSON body (an order's, authorization's or challenge's state as the CA answered it),
   * when it was JSON of at most 64 KiB: what the CA said, before any fault changed it.
   */
  upstreamJson?: unknown;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>` (or `https://` with `tls: true`). */
  url: string;
  /** `url + "/dir"`. */
  directoryUrl: string;
  /** Every request seen, in arrival order (live array). */
  requests: ProxiedRequest[];
  /** PEM of the proxy's self-signed certificate when `tls: true`. */
  caPem?: string;
  /** A fetch that can reach the proxy (global fetch, or undici trusting {@link caPem} with `tls: true`). */
  fetch: typeof fetch;
  addRule(rule: FaultRule): void;
  /** Removes all rules (and their counters). */
  clearRules(): void;
  /** Number of recorded requests matching method (case-insensitive) and path (prefix string or RegExp on path + query). */
  count(filter?: { method?: string; path?: string | RegExp }): number;
  /** Stops listening, destroys open sockets, clears timers, aborts upstream requests. Idempotent. */
  close(): Promise<void>;
}

/** Cap for buffered request and upstream response bodies. */
const MAX_BODY_BYTES = 5 * 1024 * 1024;
/** Cap for `delay`, `hold` and `stall` faults. */
const MAX_DELAY_MS = 60_000;
/** Cap for `oversize` faults. */
const MAX_OVERSIZE_BYTES = 256 * 1024 * 1024;
/** Upstream request timeout. */
const UPSTREAM_TIMEOUT_MS = 30_000;

const ACME_ERROR = "urn:ietf:params:acme:error:";

/** Hop-by-hop headers (RFC 9110 7.6.1) plus ones the proxy recomputes. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "expect",
  "http2-settings",
]);

/** A buffered upstream response: status and multi-valued headers (lower-case names). */
interface UpstreamResponse {
  status: number;
  headers: Map<string, string[]>;
  body: Buffer;
}

class ProxyHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "ProxyHttpError";
  }
}


/** Whether `path` (path + query) matches a rule/filter path matcher. */
function pathMatches(matcher: FaultRule["path"], path: string): boolean {
  if (matcher === undefined) return true;
  if (typeof matcher === "string") return path.startsWith(matcher);
  if (matcher instanceof RegExp) {
    matcher.lastIndex = 0; // tolerate /g and /y
    return matcher.test(path);
  }
  return matcher(path);
}

/**
 * Decodes a flattened JWS (`{"protected": b64url(JSON), "payload": b64url(JSON)}`): the header's
 * `nonce` and the payload (undefined for POST-as-GET), when they parse.
 */
function decodeJws(body: Buffer): { nonce?: string; payload?: unknown } {
  const out: { nonce?: string; payload?: unknown } = {};
  try {
    const jws = JSON.parse(body.toString("utf8")) as { protected?: unknown; payload?: unknown } | null;
    if (typeof jws !== "object" || jws === null) return out;
    if (typeof jws.protected === "string") {
      const header = JSON.parse(Buffer.from(jws.protected, "base64url").toString("utf8")) as { nonce?: unknown } | null;
      if (typeof header?.nonce === "string") out.nonce = header.nonce;
    }
    if (typeof jws.payload === "string" && jws.payload !== "") {
      out.payload = JSON.parse(Buffer.from(jws.payload, "base64url").toString("utf8")) as unknown;
    }
  } catch {
    // Not a JWS: nothing to record.
  }
  return out;
}

/** Reads a request body up to {@link MAX_BODY_BYTES}. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // Past the cap keep draining (so a 413 can still be sent) but stop buffering.
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.once("end", () => {
      if (size > MAX_BODY_BYTES) reject(new ProxyHttpError("request body too large", 413));
      else resolve(Buffer.concat(chunks));
    });
    req.once("error", reject);
    req.once("close", () => reject(new Error("client closed the request")));
  });
}

/** Generates a self-signed P-256 certificate for 127.0.0.1/localhost. */
async function generateSelfSigned(): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), "edgecert-fault-proxy-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    await new Promise<void>((resolve, reject) => {
      execFile(
        "openssl",
        [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", keyFile, "-out", certFile, "-days", "7", "-sha256",
          "-subj", "/CN=edgecert fault proxy",
          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
          "-addext", "extendedKeyUsage=serverAuth",
        ],
        { cwd: dir, timeout: 15_000 },
        (error, _stdout, stderr) => {
          if (error) reject(new Error(`openssl failed: ${error.message}\n${stderr}`));
          else resolve();
        },
      );
    });
    return { key: await readFile(keyFile, "utf8"), cert: await readFile(certFile, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}


/** Default problem type for a status. */
function defaultProblemType(status: number): string {
  if (status === 429) return `${ACME_ERROR}rateLimited`;
  if (status >= 400 && status < 500) return `${ACME_ERROR}malformed`;
  return `${ACME_ERROR}serverInternal`;
}

/** Whether a response with this status/method carries no body. */
function bodyless(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** Starts the proxy on 127.0.0.1:0. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstreamUrl = new URL(options.upstream);
  if (upstreamUrl.protocol !== "https:" && upstreamUrl.protocol !== "http:") {
    throw new Error(`unsupported upstream protocol ${upstreamUrl.protocol}`);
  }
  const upstreamIsHttps = upstreamUrl.protocol === "https:";
  const upstreamHost = upstreamUrl.hostname.replace(/^\[|\]$/g, "");
  const loopback = upstreamHost === "localhost" || upstreamHost === "::1" || upstreamHost.startsWith("127.");
  if (upstreamIsHttps && options.upstreamCa === undefined && !loopback) {
    throw new Error("upstreamCa is required for a non-loopback https upstream");
  }
  const upstreamPort = Number(upstreamUrl.port || (upstreamIsHttps ? 443 : 80));
  const upstreamAgent = upstreamIsHttps
    ? new https.Agent({
        keepAlive: true,
        ...(options.upstreamCa === undefined ? { rejectUnauthorized: false } : { ca: options.upstreamCa }),
      })
    : new http.Agent({ keepAlive: true });

  const tlsMaterial = options.tls ? await generateSelfSigned() : undefined;
  const scheme = tlsMaterial ? "https" : "http";

  const rules: { rule: FaultRule; seen: number }[] = [];
  const requests: ProxiedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const upstreamRequests = new Set<http.ClientRequest>();
  const random = seededRandom(options.seed ?? 1);
  let closed = false;
  let proxyHost = ""; // "127.0.0.1:<port>", set once listening
  let newNoncePath: string | undefined;

  /** Waits `ms` (unref'd, cleared on close; resolves early on close). */
  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (closed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      timers.add(timer);
    });

  /** Sends one request upstream with the proxy's Host, buffering the response. */
  const forward = (method: string, path: string, headers: http.OutgoingHttpHeaders, body: Buffer | undefined): Promise<UpstreamResponse> =>
    new Promise((resolve, reject) => {
      if (closed) {
        reject(new Error("proxy closed"));
        return;
      }
      const requestOptions: https.RequestOptions = {
        host: upstreamHost,
        port: upstreamPort,
        method,
        path,
        headers: { ...headers, host: proxyHost, "x-forwarded-proto": scheme, "accept-encoding": "identity" },
        agent: upstreamAgent,
        timeout: UPSTREAM_TIMEOUT_MS,
      };
      if (body !== undefined && body.length > 0) (requestOptions.headers as http.OutgoingHttpHeaders)["content-length"] = body.length;
      const upstreamReq = (upstreamIsHttps ? https : http).request(requestOptions, (upstreamRes) => {
        const chunks: Buffer[] = [];
        let size = 0;
        upstreamRes.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            upstreamReq.destroy(new ProxyHttpError("upstream response too large", 502));
            return;
          }
          chunks.push(chunk);
        });
        let ended = false;
        upstreamRes.once("error", reject);
        upstreamRes.once("close", () => {
          if (!ended) reject(new Error("upstream closed the response early"));
        });
        upstreamRes.once("end", () => {
          ended = true;
          const collected = new Map<string, string[]>();
          const raw = upstreamRes.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) {
            const name = raw[i]!.toLowerCase();
            if (HOP_BY_HOP.has(name)) continue;
            const values = collected.get(name);
            if (values) values.push(raw[i + 1]!);
            else collected.set(name, [raw[i + 1]!]);
          }
          resolve({ status: upstreamRes.statusCode ?? 502, headers: collected, body: Buffer.concat(chunks) });
        });
      });
      upstreamRequests.add(upstreamReq);
      upstreamReq.once("close", () => upstreamRequests.delete(upstreamReq));
      upstreamReq.once("timeout", () => upstreamReq.destroy(new Error("upstream timed out")));
      upstreamReq.once("error", reject);
      upstreamReq.end(body !== undefined && body.length > 0 ? body : undefined);
    });

  /** A fresh nonce from upstream's newNonce endpoint (discovered from /dir once). */
  const upstreamNonce = async (): Promise<string | undefined> => {
    if (newNoncePath === undefined) {
      const dir = await forward("GET", "/dir", { accept: "application/json" }, undefined);
      const parsed = JSON.parse(dir.body.toString("utf8")) as { newNonce?: unknown };
      newNoncePath = typeof parsed.newNonce === "string" ? new URL(parsed.newNonce).pathname : "/nonce-plz";
    }
    const response = await forward("HEAD", newNoncePath, {}, undefined);
    return response.headers.get("replay-nonce")?.[0];
  };

  /** Picks the fault for a request; every matching rule counts it, the first that fires wins. */
  const selectFault = (method: string, path: string, hasPayload: boolean): Fault | undefined => {
    let selected: Fault | undefined;
    for (const entry of rules) {
      const { rule } = entry;
      if (rule.method !== undefined && rule.method.toUpperCase() !== method) continue;
      if (rule.body !== undefined && (rule.body === "payload") !== hasPayload) continue;
      let matches: boolean;
      try {
        matches = pathMatches(rule.path, path);
      } catch {
        matches = false;
      }
      if (!matches) continue;
      entry.seen++;
      const nth = rule.nth ?? 1;
      const times = rule.times ?? (rule.probability === undefined ? 1 : Infinity);
      const inWindow = entry.seen >= nth && entry.seen < nth + times;
      if (!inWindow) continue;
      // Always draw for in-window probability rules so the sequence does not depend on earlier rules.
      const fires = rule.probability === undefined || random() < rule.probability;
      if (!fires || selected !== undefined) continue;
      selected = rule.pick ? rule.pick({ method, path, hasPayload }) : rule.fault;
    }
    return selected;
  };

  /** Writes a full response from an upstream-like description. */
  const send = (
    res: http.ServerResponse,
    record: ProxiedRequest,
    method: string,
    status: number,
    headers: Map<string, string[]>,
    body: Buffer,
  ): void => {
    for (const [name, values] of headers) {
      if (HOP_BY_HOP.has(name)) continue;
      res.setHeader(name, values.length === 1 ? values[0]! : values);
    }
    const noBody = bodyless(method, status);
    if (!noBody) res.setHeader("content-length", body.length);
    res.statusCode = status;
    record.status = status;
    res.end(noBody ? undefined : body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, record: ProxiedRequest): Promise<void> => {
    const { method, path } = record;
    if (!path.startsWith("/")) throw new ProxyHttpError("only origin-form request targets are supported", 400);

    const body = await readBody(req);
    if (method === "POST") {
      const { nonce, payload } = decodeJws(body);
      if (nonce !== undefined) record.nonceSent = nonce;
      if (payload !== undefined) record.payload = payload;
    }
    const fault = selectFault(method, path, record.payload !== undefined);
    if (fault !== undefined) record.fault = fault.kind;

    // Faults answered without upstream.
    if (fault?.kind === "reset" && !fault.afterUpstream) {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "respond") {
      const headers = new Map<string, string[]>();
      for (const [name, value] of Object.entries(fault.headers ?? {})) headers.set(name.toLowerCase(), [value]);
      send(res, record, method, fault.status, headers, Buffer.from(fault.body, "utf8"));
      return;
    }
    if (fault?.kind === "status" && !fault.afterUpstream) {
      const headers = new Map<string, string[]>([
        ["content-type", ["application/problem+json"]],
        ["cache-control", ["no-store"]],
      ]);
      if (fault.retryAfter !== undefined) headers.set("retry-after", [fault.retryAfter]);
      if (fault.withNonce) {
        const nonce = await upstreamNonce();
        if (nonce !== undefined) headers.set("replay-nonce", [nonce]);
      }
      const problem = {
        type: fault.problemType ?? defaultProblemType(fault.status),
        detail: fault.detail ?? `fault-proxy injected HTTP ${fault.status}`,
        status: fault.status,
      };
      send(res, record, method, fault.status, headers, Buffer.from(JSON.stringify(problem), "utf8"));
      return;
    }

    // Everything else is forwarded first.
    const forwardHeaders: http.OutgoingHttpHeaders = {};
    const connectionTokens = new Set(
      (req.headers.connection ?? "")
        .split(",")
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean),
    );
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(name) || connectionTokens.has(name) || name === "x-forwarded-proto") continue;
      const existing = forwardHeaders[name];
      forwardHeaders[name] = existing === undefined ? raw[i + 1]! : `${String(existing)}, ${raw[i + 1]!}`;
    }
    const upstream = await forward(method, path, forwardHeaders, method === "GET" || method === "HEAD" ? undefined : body);
    let { status, headers, body: responseBody } = upstream;
    record.upstreamStatus = status;
    const location = headers.get("location")?.[0];
    if (location !== undefined) record.upstreamLocation = location;
    if (/json/i.test(headers.get("content-type")?.[0] ?? "") && responseBody.length <= 64 * 1024) {
      try {
        record.upstreamJson = JSON.parse(responseBody.toString("utf8")) as unknown;
      } catch {
        // Not JSON after all: nothing to record.
      }
    }

    switch (fault?.kind) {
      case undefined:
        break;
      case "reset":
        req.socket.destroy();
        return;
      case "status": {
        const nonce = headers.get("replay-nonce");
        headers = new Map<string, string[]>([["content-type", ["application/problem+json"]]]);
        if (nonce) headers.set("replay-nonce", nonce);
        if (fault.retryAfter !== undefined) headers.set("retry-after", [fault.retryAfter]);
        status = fault.status;
        const problem = { type: fault.problemType ?? defaultProblemType(status), detail: fault.detail ?? `fault-proxy injected HTTP ${status} after upstream answered`, status };
        responseBody = Buffer.from(JSON.stringify(problem), "utf8");
        break;
      }
      case "delay": {
        const ms = Math.max(0, Math.min(MAX_DELAY_MS, Number.isFinite(fault.ms) ? fault.ms : 0));
        await wait(ms);
        if (closed || res.destroyed) return;
        break;
      }
      case "stall": {
        if (!res.destroyed) await Promise.race([new Promise<void>((resolve) => res.once("close", () => resolve())), wait(MAX_DELAY_MS)]);
        if (closed || res.destroyed || res.writableEnded) return;
        break;
      }
      case "hold": {
        await Promise.race([fault.until.then(() => undefined, () => undefined), wait(MAX_DELAY_MS)]);
        if (closed || res.destroyed) return;
        break;
      }
      case "garbage":
        responseBody = Buffer.from(fault.body ?? "<html>oops", "utf8");
        headers.set("content-type", [fault.contentType ?? "text/html"]);
        break;
      case "truncate": {
        for (const [name, values] of headers) res.setHeader(name, values.length === 1 ? values[0]! : values);
        res.statusCode = status;
        record.status = status;
        if (bodyless(method, status)) {
          // No body to cut: send the headers, then drop the connection.
          res.once("finish", () => req.socket.destroy());
          res.end();
          return;
        }
        // Announce the full length so the client can tell the body was cut short.
        res.setHeader("content-length", responseBody.length);
        res.flushHeaders();
        const half = responseBody.subarray(0, Math.floor(responseBody.length / 2));
        res.write(half, () => req.socket.destroy());
        return;
      }
      case "oversize": {
        const bytes = Math.max(0, Math.min(MAX_OVERSIZE_BYTES, Math.floor(fault.bytes)));
        const junk = Buffer.alloc(bytes, "x");
        junk.write('{"a":"'.slice(0, bytes), 0, "utf8");
        responseBody = junk;
        break;
      }
      case "dropNonce":
        headers.delete("replay-nonce");
        break;
      case "setHeaders": {
        const set = typeof fault.headers === "function" ? fault.headers(path) : fault.headers;
        for (const [name, value] of Object.entries(set)) headers.set(name.toLowerCase(), [value]);
        break;
      }
      case "wrongContentType":
        headers.set("content-type", [fault.contentType]);
        break;
      case "rewriteJson": {
        const text = responseBody.toString("utf8");
        let json: unknown;
        if (text.length > 0) {
          try {
            json = JSON.parse(text) as unknown;
          } catch {
            json = text;
          }
        }
        const edited = fault.edit(json, { method, path });
        const serialized = edited === undefined ? "" : JSON.stringify(edited);
        responseBody = Buffer.from(serialized ?? "", "utf8");
        if (!headers.has("content-type")) headers.set("content-type", ["application/json"]);
        for (const [name, value] of Object.entries(fault.headers ?? {})) headers.set(name.toLowerCase(), [value]);
        if (fault.status !== undefined) status = fault.status;
        break;
      }
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(unreachable)}`);
      }
    }
    send(res, record, method, status, headers, responseBody);
  };

  const server = tlsMaterial
    ? https.createServer({ key: tlsMaterial.key, cert: tlsMaterial.cert })
    : http.createServer();
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const record: ProxiedRequest = { method: (req.method ?? "GET").toUpperCase(), path: req.url ?? "/", status: 0 };
    requests.push(record);
    handle(req, res, record).catch((error: unknown) => {
      const status = error instanceof ProxyHttpError ? error.status : 502;
      if (res.headersSent || res.destroyed || req.socket.destroyed) {
        req.socket.destroy();
        return;
      }
      record.status = status;
      const detail = error instanceof Error ? error.message : String(error);
      const problem = JSON.stringify({ type: `${ACME_ERROR}serverInternal`, detail: `fault-proxy: ${detail}`, status });
      try {
        res.writeHead(status, { "content-type": "application/problem+json", "content-length": Buffer.byteLength(problem) });
        res.end(problem);
      } catch {
        req.socket.destroy();
      }
    });
  });
  // Malformed HTTP: answer 400 if possible, never crash.
  server.on("clientError", (_error: Error, socket: Duplex) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  if (tlsMaterial) server.on("tlsClientError", () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => undefined);
  const { port } = server.address() as AddressInfo;
  proxyHost = `127.0.0.1:${port}`;
  const url = `${scheme}://${proxyHost}`;

  const clientAgent = tlsMaterial ? new Agent({ connect: { ca: tlsMaterial.cert }, keepAliveTimeout: 1_000 }) : undefined;
  const proxyFetch = clientAgent ? agentFetch(clientAgent) : globalThis.fetch.bind(globalThis);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const upstreamReq of upstreamRequests) upstreamReq.destroy(new Error("proxy closed"));
      upstreamRequests.clear();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.race([stopped, new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref())]);
      upstreamAgent.destroy();
      await clientAgent?.destroy().catch(() => undefined);
    })();
    return closing;
  };

  return {
    url,
    directoryUrl: `${url}/dir`,
    requests,
    ...(tlsMaterial ? { caPem: tlsMaterial.cert } : {}),
    fetch: proxyFetch,
    addRule(rule) {
      rules.push({ rule, seen: 0 });
    },
    clearRules() {
      rules.length = 0;
    },
    count(filter = {}) {
      const method = filter.method?.toUpperCase();
      return requests.filter((r) => (method === undefined || r.method === method) && pathMatches(filter.path, r.path))
        .length;
    },
    close,
  };
}
