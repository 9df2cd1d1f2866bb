/**
 * A local DNS-over-HTTPS endpoint on 127.0.0.1 in front of pebble-challtestsrv's DNS server, so a DoH
 * client reads exactly what challtestsrv serves (and what Pebble's validator sees).
 *
 * - RFC 8484 wire format: `GET ?dns=<base64url, no padding>` and `POST` with `application/dns-message`.
 *   The query bytes are forwarded unchanged (except the ID) over UDP to challtestsrv (TCP when the
 *   answer is truncated), and the answer bytes are relayed unchanged.
 * - JSON format: `GET ?name=&type=TXT` with `accept: application/dns-json`, answered Cloudflare-style
 *   (`data` quoted, one quoted string per character-string) from Node's own resolver (c-ares) pointed at
 *   challtestsrv — an implementation independent of edgecert's parser.
 * - Fault knobs: `lag` answers the next N queries with an empty NOERROR (a resolver whose cache has not
 *   caught up), `failures` answers the next N with HTTP 503.
 * @module
 */
import * as dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import * as net from "node:net";

/** One request the server saw. */
export interface DohRequest {
  method: string;
  /** `wire` or `json`, or `invalid` when the server refused it. */
  format: "wire" | "json" | "invalid";
  url: string;
  accept: string | undefined;
  status: number;
}

/** A running DoH endpoint. */
export interface DohServer {
  /** The endpoint, `http://127.0.0.1:<port>/dns-query`. */
  url: string;
  requests: DohRequest[];
  /** Answer the next `lag` queries with no records at all. */
  lag: number;
  /** Answer the next `failures` queries with HTTP 503. */
  failures: number;
  close(): Promise<void>;
}

const UPSTREAM_TIMEOUT_MS = 2_000;

/** Starts a DoH endpoint forwarding to the DNS server on 127.0.0.1:`dnsPort`. */
export async function startDohServer(dnsPort: number): Promise<DohServer> {
  const resolver = new Resolver({ timeout: UPSTREAM_TIMEOUT_MS, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  const state: DohServer = {
    url: "",
    requests: [],
    lag: 0,
    failures: 0,
    close: async () => {},
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const accept = req.headers.accept;
    const record: DohRequest = { method: req.method ?? "GET", format: "invalid", url: url.href, accept, status: 0 };
    state.requests.push(record);
    const reply = (status: number, type: string, body: Uint8Array | string): void => {
      record.status = status;
      res.writeHead(status, { "content-type": type, "cache-control": "max-age=0" });
      res.end(body);
    };
    if (url.pathname !== "/dns-query") return reply(404, "text/plain", "not found");

    let query: Uint8Array | undefined;
    if (req.method === "POST") {
      if (req.headers["content-type"] !== "application/dns-message") return reply(415, "text/plain", "unsupported media type");
      query = await readBody(req);
      record.format = "wire";
    } else if (req.method === "GET" && url.searchParams.has("dns")) {
      const dns = url.searchParams.get("dns")!;
      // RFC 8484 §4.1: base64url, and "padding characters ... MUST NOT be included".
      if (!/^[A-Za-z0-9_-]+$/.test(dns)) return reply(400, "text/plain", "dns parameter is not unpadded base64url");
      query = Buffer.from(dns, "base64url");
      record.format = "wire";
    } else if (req.method === "GET" && url.searchParams.has("name")) {
      if (accept !== "application/dns-json") return reply(415, "text/plain", "send accept: application/dns-json");
      record.format = "json";
    } else {
      return reply(400, "text/plain", "need ?dns= or ?name=");
    }

    if (state.failures > 0) {
      state.failures--;
      return reply(503, "text/plain", "try again");
    }
    const lagging = state.lag > 0;
    if (lagging) state.lag--;

    if (query) {
      if (query.length < 12) return reply(400, "text/plain", "short DNS message");
      const answer = lagging ? emptyAnswer(query) : await forward(query, dnsPort);
      return reply(200, "application/dns-message", answer);
    }
    const name = url.searchParams.get("name")!;
    const type = (url.searchParams.get("type") ?? "A").toUpperCase();
    if (type !== "TXT" && type !== "16") return reply(400, "application/dns-json", JSON.stringify({ error: "only TXT here" }));
    const json: { Status: number; TC: boolean; Question: unknown[]; Answer?: unknown[] } = {
      Status: 0,
      TC: false,
      Question: [{ name, type: 16 }],
    };
    if (!lagging) {
      try {
        const texts = await resolver.resolveTxt(name);
        json.Answer = texts.map((strings) => ({
          name: name.endsWith(".") ? name : `${name}.`,
          type: 16,
          TTL: 60,
          data: strings.map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(" "),
        }));
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "ENOTFOUND") json.Status = 3;
        else if (code !== "ENODATA") json.Status = 2;
      }
    }
    return reply(200, "application/dns-json", JSON.stringify(json));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  state.url = `http://127.0.0.1:${address.port}/dns-query`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > 65_535) throw new Error("DNS message too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A NOERROR response with the query's question and no answers. */
function emptyAnswer(query: Uint8Array): Uint8Array {
  const out = Buffer.from(query);
  out[2] = 0x80 | (out[2]! & 0x79); // QR=1, keep opcode and RD
  out[3] = 0x80; // RA=1, RCODE=0
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}

/** Sends `query` to 127.0.0.1:`port` over UDP (TCP if the answer is truncated); the answer keeps the query's ID. */
async function forward(query: Uint8Array, port: number): Promise<Uint8Array> {
  const originalId = Buffer.from(query).readUInt16BE(0);
  const id = Math.floor(Math.random() * 0xffff);
  const outbound = Buffer.from(query);
  outbound.writeUInt16BE(id, 0);
  let answer = await udpExchange(outbound, port, id);
  if ((answer[2]! & 0x02) !== 0) answer = await tcpExchange(outbound, port);
  answer.writeUInt16BE(originalId, 0);
  return answer;
}

function udpExchange(message: Buffer, port: number, id: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer from 127.0.0.1:${port}`));
    }, UPSTREAM_TIMEOUT_MS);
    socket.on("message", (msg) => {
      if (msg.length < 2 || msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.send(message, port, "127.0.0.1");
  });
}

function tcpExchange(message: Buffer, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    socket.setTimeout(UPSTREAM_TIMEOUT_MS, () => socket.destroy(new Error("TCP DNS timeout")));
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) {
        socket.end();
        resolve(all.subarray(2, 2 + all.readUInt16BE(0)));
      }
    });
    socket.on("error", reject);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(message.length);
    socket.write(Buffer.concat([length, message]));
  });
}
