/**
 * A local stand-in for the parts of the Cloudflare v4 API a dns-01 solver uses, on 127.0.0.1, shaped
 * like Cloudflare's documented responses:
 * - every body is the envelope `{ success, errors, messages, result }` (+ `result_info` on lists);
 * - `GET /zones` (`name` filter, `page`, `per_page`), `GET|POST /zones/:id/dns_records` (`type`, `name`,
 *   `content` filters, also as `name.exact` / `content.exact`), `DELETE /zones/:id/dns_records/:rid`;
 * - `Authorization: Bearer <token>` checked: a malformed header is 400 6003 → 6111, an unknown token
 *   403 9109, a zone outside the token's scope 403 10000;
 * - Cloudflare's codes for an identical record (400 81058), a missing record (404 81044), a bad TTL
 *   (400 9021), an unknown zone (400 7003);
 * - fault knobs: `rateLimit(n, retryAfterSeconds)` answers the next n requests 429 + `Retry-After`
 *   (code 971), `failNext(...)` answers one matching request with a chosen status and errors.
 * `onTxtChange(name, contents)` is awaited after every TXT create/delete with the full set of TXT
 * contents at that name, so a test can mirror the zone into a real DNS server (challtestsrv); calls are
 * serialized.
 * @module
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A DNS record as the API returns it. */
export interface FakeDnsRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxiable: boolean;
  proxied: boolean;
  locked: boolean;
  comment: string | null;
  tags: string[];
  meta: Record<string, boolean>;
  created_on: string;
  modified_on: string;
}

/** A zone as the API returns it (trimmed to common fields). */
export interface FakeZone {
  id: string;
  name: string;
  status: string;
  paused: boolean;
  type: string;
  name_servers: string[];
  account: { id: string; name: string };
}

/** An API token and the zone names it may touch (all zones when omitted). */
export interface FakeToken {
  token: string;
  zones?: string[];
}

export interface CloudflareApiServerOptions {
  tokens: FakeToken[];
  zones: Array<{ name: string; status?: string }>;
  /** Largest page the server hands out, whatever `per_page` asks (default 50). */
  maxPerPage?: number;
  onTxtChange?: (name: string, contents: string[]) => Promise<void>;
}

/** One request the server saw. */
export interface FakeApiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface CloudflareApiServer {
  /** API root, `http://127.0.0.1:<port>/client/v4`. */
  url: string;
  zones: FakeZone[];
  requests: FakeApiRequest[];
  /** All records of a zone (by name), in creation order. */
  records(zoneName: string): FakeDnsRecord[];
  /** Adds a record directly, as if made by someone else; returns it. */
  addRecord(zoneName: string, record: { name: string; type: string; content: string; ttl?: number }): Promise<FakeDnsRecord>;
  /** The next `count` requests get 429 with `Retry-After: retryAfterSeconds`. */
  rateLimit(count: number, retryAfterSeconds: number): void;
  /** The next request matching `method` and `path` (a regular expression) gets this answer instead. */
  failNext(method: string, path: RegExp, status: number, errors: Array<{ code: number; message: string }>): void;
  close(): Promise<void>;
}

const hexId = (): string => randomBytes(16).toString("hex");

/** Starts the fake API on a free 127.0.0.1 port. */
export async function startCloudflareApiServer(options: CloudflareApiServerOptions): Promise<CloudflareApiServer> {
  const maxPerPage = options.maxPerPage ?? 50;
  const zones: FakeZone[] = options.zones.map((z) => ({
    id: hexId(),
    name: z.name,
    status: z.status ?? "active",
    paused: false,
    type: "full",
    name_servers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
    account: { id: "0123456789abcdef0123456789abcdef", name: "test account" },
  }));
  const records = new Map<string, FakeDnsRecord[]>(zones.map((z) => [z.id, []]));
  const requests: FakeApiRequest[] = [];
  let rateLimited = 0;
  let retryAfter = 1;
  const failures: Array<{ method: string; path: RegExp; status: number; errors: Array<{ code: number; message: string }> }> = [];

  // Notifications run one at a time, each with the set as it is when it runs: concurrent creates must
  // not interleave a mirror's clear-and-re-add steps (that would leave duplicates behind).
  let notifications: Promise<void> = Promise.resolve();
  const notifyTxt = (name: string): Promise<void> => {
    const onTxtChange = options.onTxtChange;
    if (!onTxtChange) return Promise.resolve();
    const run = notifications.then(() =>
      onTxtChange(name, [...records.values()].flat().filter((r) => r.type === "TXT" && r.name === name).map((r) => r.content)),
    );
    notifications = run.catch(() => {});
    return run;
  };

  const makeRecord = (zone: FakeZone, input: { name: string; type: string; content: string; ttl?: number }): FakeDnsRecord => {
    const now = new Date().toISOString();
    const lower = input.name.replace(/\.$/, "").toLowerCase();
    // Cloudflare appends the zone to names outside it ("www" → "www.example.com").
    const name = lower === zone.name || lower.endsWith(`.${zone.name}`) ? lower : `${lower}.${zone.name}`;
    return {
      id: hexId(),
      zone_id: zone.id,
      zone_name: zone.name,
      name,
      type: input.type,
      content: input.content,
      ttl: input.ttl ?? 1,
      proxiable: false,
      proxied: false,
      locked: false,
      comment: null,
      tags: [],
      meta: { auto_added: false, managed_by_apps: false, managed_by_argo_tunnel: false },
      created_on: now,
      modified_on: now,
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/^\/client\/v4/, "");
    const query = Object.fromEntries(url.searchParams);
    const entry: FakeApiRequest = { method, path, query, status: 0 };
    requests.push(entry);
    const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void => {
      entry.status = status;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify({ messages: [], ...body }));
    };
    const fail = (status: number, errors: unknown[], headers: Record<string, string> = {}): void =>
      send(status, { success: false, errors, result: null }, headers);
    const ok = (result: unknown, resultInfo?: Record<string, number>): void =>
      send(200, { success: true, errors: [], result, ...(resultInfo ? { result_info: resultInfo } : {}) });

    if (!url.pathname.startsWith("/client/v4/")) return fail(400, [{ code: 7000, message: "No route for that URI" }]);

    // Authentication comes first, as at Cloudflare.
    const auth = req.headers.authorization ?? "";
    const bearer = /^Bearer ([A-Za-z0-9_-]+)$/.exec(auth);
    if (!bearer) {
      return fail(400, [{ code: 6003, message: "Invalid request headers", error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }] }]);
    }
    const token = options.tokens.find((t) => t.token === bearer[1]);
    if (!token) return fail(403, [{ code: 9109, message: "Invalid access token" }]);

    if (rateLimited > 0) {
      rateLimited--;
      return fail(429, [{ code: 971, message: "Please wait and consider throttling your request speed" }], { "retry-after": String(retryAfter) });
    }
    const injected = failures.findIndex((f) => f.method === method && f.path.test(path));
    if (injected >= 0) {
      const [f] = failures.splice(injected, 1);
      return fail(f!.status, f!.errors);
    }

    const visible = zones.filter((z) => !token.zones || token.zones.includes(z.name));
    const page = <T>(items: T[], defaultPerPage: number): void => {
      const perPage = Math.min(maxPerPage, Math.max(1, Number(query.per_page ?? defaultPerPage) || defaultPerPage));
      const pageNo = Math.max(1, Number(query.page ?? 1) || 1);
      const slice = items.slice((pageNo - 1) * perPage, pageNo * perPage);
      ok(slice, {
        page: pageNo,
        per_page: perPage,
        count: slice.length,
        total_count: items.length,
        total_pages: Math.max(1, Math.ceil(items.length / perPage)),
      });
    };

    if (method === "GET" && path === "/zones") {
      const name = query.name?.toLowerCase();
      const status = query.status;
      return page(
        visible.filter((z) => (name === undefined || z.name === name) && (status === undefined || z.status === status)),
        20,
      );
    }

    const zoneMatch = /^\/zones\/([^/]+)\/dns_records(?:\/([^/]+))?$/.exec(path);
    if (!zoneMatch) return fail(400, [{ code: 7000, message: "No route for that URI" }]);
    const zone = zones.find((z) => z.id === zoneMatch[1]);
    if (!zone) {
      return fail(400, [{ code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }]);
    }
    if (!visible.includes(zone)) return fail(403, [{ code: 10000, message: "Authentication error" }]);
    const list = records.get(zone.id)!;
    const recordId = zoneMatch[2];

    if (method === "GET" && recordId === undefined) {
      const type = query.type;
      const name = (query["name.exact"] ?? query.name)?.toLowerCase();
      const content = query["content.exact"] ?? query.content;
      return page(
        list.filter((r) => (type === undefined || r.type === type) && (name === undefined || r.name === name) && (content === undefined || r.content === content)),
        100,
      );
    }
    if (method === "POST" && recordId === undefined) {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(await readText(req)) as Record<string, unknown>;
      } catch {
        return fail(400, [{ code: 9207, message: "Request body is invalid." }]);
      }
      const { type, name, content, ttl } = body;
      if (typeof type !== "string" || typeof name !== "string" || typeof content !== "string") {
        return fail(400, [{ code: 9000, message: "DNS name, type and content are required" }]);
      }
      if (ttl !== undefined && !(ttl === 1 || (typeof ttl === "number" && Number.isInteger(ttl) && ttl >= 60 && ttl <= 86_400))) {
        return fail(400, [{ code: 9021, message: "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic." }]);
      }
      const record = makeRecord(zone, { name, type, content, ...(typeof ttl === "number" ? { ttl } : {}) });
      if (list.some((r) => r.type === record.type && r.name === record.name && r.content === record.content)) {
        return fail(400, [{ code: 81058, message: "An identical record already exists." }]);
      }
      list.push(record);
      if (record.type === "TXT") await notifyTxt(record.name);
      return ok(record);
    }
    if (method === "DELETE" && recordId !== undefined) {
      const index = list.findIndex((r) => r.id === recordId);
      if (index < 0) return fail(404, [{ code: 81044, message: "Record does not exist." }]);
      const [removed] = list.splice(index, 1);
      if (removed!.type === "TXT") await notifyTxt(removed!.name);
      return ok({ id: recordId });
    }
    return fail(405, [{ code: 10405, message: "Method not allowed" }]);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ success: false, errors: [{ code: 10001, message: String(err) }], messages: [], result: null }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    zones,
    requests,
    records: (zoneName) => [...(records.get(zones.find((z) => z.name === zoneName)?.id ?? "") ?? [])],
    async addRecord(zoneName, input) {
      const zone = zones.find((z) => z.name === zoneName);
      if (!zone) throw new Error(`no zone ${zoneName}`);
      const record = makeRecord(zone, input);
      records.get(zone.id)!.push(record);
      if (record.type === "TXT") await notifyTxt(record.name);
      return record;
    },
    rateLimit(count, retryAfterSeconds) {
      rateLimited = count;
      retryAfter = retryAfterSeconds;
    },
    failNext(method, path, status, errors) {
      failures.push({ method, path, status, errors });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
