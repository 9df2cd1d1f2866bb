/// <reference types="node" />
/**
 * A `fetch` that trusts a private CA (`--ca-file`), per runtime:
 * - Deno: `Deno.createHttpClient({ caCerts })` passed as the `client` fetch option (added to the
 *   default roots).
 * - Bun: the `tls: { ca }` fetch option.
 * - Node: Node 20's global fetch takes no per-call CA and its undici `Agent` is not exposed, so
 *   requests go through `node:https` with `ca` = the system roots plus the file. This keeps undici (a
 *   devDependency only) out of the CLI's runtime dependencies. `NODE_EXTRA_CA_CERTS` also works with
 *   the global fetch, as a fallback.
 * @module
 */
import { request as httpsRequest, Agent } from "node:https";
import { request as httpRequest } from "node:http";
import { rootCertificates } from "node:tls";
import { EdgecertError } from "../errors.ts";

interface DenoHttp {
  createHttpClient(options: { caCerts: string[] }): unknown;
}

/** Bytes of a response body the adapter keeps at most (ACME bodies are small; a chain is a few KB). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** A fetch that trusts `caPem` in addition to the runtime's usual roots where the runtime allows. */
export function fetchTrusting(caPem: string): typeof fetch {
  const deno = (globalThis as { Deno?: DenoHttp }).Deno;
  if (deno) {
    const client = deno.createHttpClient({ caCerts: [caPem] });
    return ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
  }
  if ((globalThis as { Bun?: unknown }).Bun) {
    return ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, tls: { ca: caPem } } as RequestInit)) as typeof fetch;
  }
  return nodeHttpsFetch([...rootCertificates, caPem]);
}

/** A minimal fetch over `node:https` with its own CA list: enough for ACME (small bodies, no streaming). */
export function nodeHttpsFetch(ca: string[]): typeof fetch {
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 8 });
  const adapter = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const req = input instanceof Request ? input : undefined;
    const url = new URL(req ? req.url : String(input));
    const method = (init.method ?? req?.method ?? "GET").toUpperCase();
    const headers = new Headers(req?.headers);
    for (const [k, v] of new Headers(init.headers)) headers.set(k, v);
    const body = init.body !== undefined && init.body !== null ? new Uint8Array(await new Response(init.body).arrayBuffer()) : req && method !== "GET" && method !== "HEAD" ? new Uint8Array(await req.arrayBuffer()) : undefined;
    if (body) headers.set("content-length", String(body.byteLength));
    const signal = init.signal ?? req?.signal ?? undefined;
    signal?.throwIfAborted();
    return await new Promise<Response>((resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : url.protocol === "http:" ? httpRequest : undefined;
      if (!send) {
        reject(new EdgecertError("invalid_input", `cannot fetch ${url.protocol} URLs`));
        return;
      }
      const outgoing = send(url, { method, headers: Object.fromEntries(headers), ...(url.protocol === "https:" ? { agent } : {}), ...(signal ? { signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) res.destroy(new EdgecertError("network", `response from ${url.host} exceeds ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.once("error", reject);
        res.once("end", () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
          }
          const status = res.statusCode ?? 502;
          const nullBody = method === "HEAD" || status === 204 || status === 304;
          resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? "", headers: responseHeaders }));
        });
      });
      outgoing.once("error", (err) => reject(signal?.aborted ? signal.reason : new TypeError(`fetch failed: ${err.message}`, { cause: err })));
      outgoing.end(body);
    });
  };
  return adapter as typeof fetch;
}
