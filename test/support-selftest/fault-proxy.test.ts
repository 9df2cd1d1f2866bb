import * as net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from "../support/fault-proxy.ts";

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  keyChange: string;
  revokeCert: string;
  meta?: Record<string, unknown>;
}

const b64url = (data: Uint8Array | string): string =>
  Buffer.from(typeof data === "string" ? new TextEncoder().encode(data) : data).toString("base64url");

/** Builds a flattened ES256 JWS with an embedded JWK (newAccount style). */
async function signJws(keys: CryptoKeyPair, url: string, nonce: string, payload: unknown): Promise<string> {
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const protectedB64 = b64url(JSON.stringify({ alg: "ES256", jwk: { crv, kty, x, y }, nonce, url }));
  const payloadB64 = b64url(JSON.stringify(payload));
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    keys.privateKey,
    new TextEncoder().encode(`${protectedB64}.${payloadB64}`),
  );
  return JSON.stringify({ protected: protectedB64, payload: payloadB64, signature: b64url(new Uint8Array(signature)) });
}

/** A fresh ES256 account key pair. */
async function newKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])) as CryptoKeyPair;
}

/** Sends raw bytes to host:port and resolves with whatever comes back before close (bounded). */
function rawExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = "";
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(done, 3_000);
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("error", done);
    socket.on("close", done);
    socket.write(data);
  });
}

describe("fault proxy in front of Pebble", () => {
  let pebble: PebbleInstance;
  let upstream: string;
  const proxies: FaultProxy[] = [];

  const newProxy = async (extra: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> => {
    const proxy = await startFaultProxy({ upstream, upstreamFetch: pebble.fetch, upstreamCa: pebble.caPem, ...extra });
    proxies.push(proxy);
    return proxy;
  };
  const directory = async (proxy: FaultProxy): Promise<Directory> => {
    const response = await proxy.fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    return (await response.json()) as Directory;
  };
  const headNonce = (url: string): Promise<Response> => fetch(url, { method: "HEAD", signal: AbortSignal.timeout(5_000) });

  beforeAll(async () => {
    pebble = await startPebble();
    upstream = new URL(pebble.directoryUrl).origin;
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await pebble?.stop();
  });

  it("serves a directory whose URLs all point at the proxy, and nonces via HEAD", async () => {
    const proxy = await newProxy();
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proxy.directoryUrl).toBe(`${proxy.url}/dir`);
    const dir = await directory(proxy);
    for (const key of ["newNonce", "newAccount", "newOrder", "keyChange", "revokeCert"] as const) {
      expect(dir[key].startsWith(`${proxy.url}/`), `${key}=${dir[key]}`).toBe(true);
    }
    const nonce = await headNonce(dir.newNonce);
    expect(nonce.ok).toBe(true);
    expect(nonce.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(nonce.headers.get("link")).toBe(`<${proxy.url}/dir>;rel="index"`);
    expect(proxy.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ["GET", "/dir", 200],
      ["HEAD", new URL(dir.newNonce).pathname, 200],
    ]);
  });

  it("works with only upstream + upstreamFetch (loopback upstream, unverified TLS)", async () => {
    const proxy = await startFaultProxy({ upstream, upstreamFetch: pebble.fetch });
    proxies.push(proxy);
    const dir = await directory(proxy);
    expect(dir.newOrder).toBe(`${proxy.url}/order-plz`);
  });

  it("with tls: true forwards signed POSTs (JWS url = proxy URL) and records the nonce sent", async () => {
    const proxy = await newProxy({ tls: true });
    expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(proxy.caPem).toContain("BEGIN CERTIFICATE");
    const dir = await directory(proxy);
    expect(dir.newAccount).toBe(`${proxy.url}/sign-me-up`);
    const nonce = (await proxy.fetch(dir.newNonce, { method: "HEAD" })).headers.get("replay-nonce")!;
    const keys = await newKeys();
    const response = await proxy.fetch(dir.newAccount, {
      method: "POST",
      headers: { "content-type": "application/jose+json" },
      body: await signJws(keys, dir.newAccount, nonce, { termsOfServiceAgreed: true }),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    expect(response.status, text).toBe(201);
    expect(response.headers.get("location")).toMatch(new RegExp(`^${proxy.url}/`));
    expect(response.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);
    const post = proxy.requests.find((r) => r.method === "POST");
    expect(post).toMatchObject({ path: new URL(dir.newAccount).pathname, status: 201, nonceSent: nonce });
    expect(post?.fault).toBeUndefined();
  });

  it("status fault answers 503 + Retry-After once without a nonce, then requests pass", async () => {
    const proxy = await newProxy();
    const dir = await directory(proxy);
    const noncePath = new URL(dir.newNonce).pathname;
    expect(noncePath).toBe("/nonce-plz");
    proxy.addRule({ method: "HEAD", path: noncePath, fault: { kind: "status", status: 503, retryAfter: "2" } });

    const first = await fetch(dir.newNonce, { method: "HEAD", signal: AbortSignal.timeout(5_000) });
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBe("2");
    expect(first.headers.get("content-type")).toBe("application/problem+json");
    expect(first.headers.get("replay-nonce")).toBeNull();

    const second = await headNonce(dir.newNonce);
    expect(second.ok).toBe(true);
    expect(second.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);

    // A GET shows the problem body (HEAD has none); the HEAD-only rule does not match GETs.
    proxy.addRule({ path: "/dir", fault: { kind: "status", status: 429, detail: "slow down" } });
    const problemResponse = await fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(problemResponse.status).toBe(429);
    expect(await problemResponse.json()).toEqual({
      type: "urn:ietf:params:acme:error:rateLimited",
      detail: "slow down",
      status: 429,
    });
    expect(proxy.requests.map((r) => [r.method, r.status, r.fault])).toEqual([
      ["GET", 200, undefined],
      ["HEAD", 503, "status"],
      ["HEAD", 200, undefined],
      ["GET", 429, "status"],
    ]);
  });

  it("plain http: Pebble 2.4 rejects signed POSTs because its JWS url check hard-codes https", async () => {
    const proxy = await newProxy();
    const dir = await directory(proxy);
    const nonce = (await headNonce(dir.newNonce)).headers.get("replay-nonce")!;
    const response = await fetch(dir.newAccount, {
      method: "POST",
      headers: { "content-type": "application/jose+json" },
      body: await signJws(await newKeys(), dir.newAccount, nonce, { termsOfServiceAgreed: true }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { type: string; detail: string };
    expect(problem.type).toBe("urn:ietf:params:acme:error:malformed");
    expect(problem.detail).toContain(`Expected "${dir.newAccount.replace(/^http:/, "https:")}"`);
    expect(proxy.requests.at(-1)).toMatchObject({ method: "POST", status: 400, nonceSent: nonce });
  });

  it("status fault with withNonce carries a real upstream nonce", async () => {
    const proxy = await newProxy({ tls: true });
    const dir = await directory(proxy);
    proxy.addRule({ path: "/dir", fault: { kind: "status", status: 500, withNonce: true } });
    const response = await proxy.fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(500);
    const nonce = response.headers.get("replay-nonce");
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(((await response.json()) as { type: string }).type).toBe("urn:ietf:params:acme:error:serverInternal");
    // The nonce is valid: Pebble accepts it in a signed request through the proxy.
    const keys = await newKeys();
    const account = await proxy.fetch(dir.newAccount, {
      method: "POST",
      headers: { "content-type": "application/jose+json" },
      body: await signJws(keys, dir.newAccount, nonce!, { termsOfServiceAgreed: true }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(account.status, await account.text()).toBe(201);
  });

  it("reset makes fetch reject, and the proxy keeps serving", async () => {
    const proxy = await newProxy();
    proxy.addRule({ path: "/dir", fault: { kind: "reset" } });
    await expect(fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
    await directory(proxy);
    expect(proxy.requests.map((r) => [r.status, r.fault])).toEqual([
      [0, "reset"],
      [200, undefined],
    ]);
  });

  it("garbage replaces the body and content-type but keeps status and Replay-Nonce", async () => {
    const proxy = await newProxy();
    const dir = await directory(proxy);
    proxy.addRule({ path: "/dir", fault: { kind: "garbage" } });
    const response = await fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html");
    expect(await response.text()).toBe("<html>oops");

    // On a POST Pebble always sends a Replay-Nonce; garbage keeps it (and the 400 status).
    proxy.addRule({ method: "POST", fault: { kind: "garbage", body: "not json", contentType: "text/plain" } });
    const post = await fetch(dir.newAccount, {
      method: "POST",
      headers: { "content-type": "application/jose+json" },
      body: "{}",
      signal: AbortSignal.timeout(5_000),
    });
    expect(post.status).toBe(400);
    expect(post.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(post.headers.get("content-type")).toBe("text/plain");
    expect(await post.text()).toBe("not json");
  });

  it("truncate cuts the body short and drops the connection", async () => {
    const proxy = await newProxy();
    proxy.addRule({ path: "/dir", fault: { kind: "truncate" } });
    const response = await fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    expect(proxy.requests[0]).toMatchObject({ status: 200, fault: "truncate" });
    await directory(proxy);
  });

  it("dropNonce strips Replay-Nonce", async () => {
    const proxy = await newProxy();
    const dir = await directory(proxy);
    proxy.addRule({ method: "HEAD", path: "/nonce-plz", fault: { kind: "dropNonce" } });
    const dropped = await headNonce(dir.newNonce);
    expect(dropped.ok).toBe(true);
    expect(dropped.headers.get("replay-nonce")).toBeNull();
    expect((await headNonce(dir.newNonce)).headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("oversize sends exactly `bytes` bytes of JSON-ish junk with a matching content-length", async () => {
    const proxy = await newProxy();
    proxy.addRule({ path: "/dir", fault: { kind: "oversize", bytes: 200_000 } });
    const response = await fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe("200000");
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await response.text();
    expect(body.length).toBe(200_000);
    expect(body.startsWith('{"a":"xxxx')).toBe(true);
  });

  it("wrongContentType keeps the body but swaps the content-type", async () => {
    const proxy = await newProxy();
    proxy.addRule({ path: "/dir", fault: { kind: "wrongContentType", contentType: "text/plain" } });
    const response = await fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.headers.get("content-type")).toBe("text/plain");
    const dir = JSON.parse(await response.text()) as Directory;
    expect(dir.newNonce).toBe(`${proxy.url}/nonce-plz`);
  });

  it("rewriteJson edits the upstream JSON and adds headers", async () => {
    const proxy = await newProxy();
    const seen: { method: string; path: string }[] = [];
    proxy.addRule({
      path: "/dir",
      fault: {
        kind: "rewriteJson",
        edit: (json, req) => {
          seen.push(req);
          const dir = json as Directory;
          return { ...dir, renewalInfo: `${proxy.url}/renewal-info`, meta: { ...dir.meta, profiles: { classic: "x" } } };
        },
        headers: { "Retry-After": "7" },
      },
    });
    const response = await fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get("retry-after")).toBe("7");
    const dir = (await response.json()) as Directory & { renewalInfo: string };
    expect(dir.renewalInfo).toBe(`${proxy.url}/renewal-info`);
    expect(dir.meta?.profiles).toEqual({ classic: "x" });
    expect(dir.newOrder).toBe(`${proxy.url}/order-plz`);
    expect(seen).toEqual([{ method: "GET", path: "/dir" }]);
  });

  it("respond answers locally without contacting upstream", async () => {
    const proxy = await newProxy();
    proxy.addRule({
      method: "GET",
      path: /^\/renewal-info\//,
      times: Infinity,
      fault: { kind: "respond", status: 200, body: '{"suggestedWindow":{}}', headers: { "Content-Type": "application/json", "Retry-After": "60" } },
    });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${proxy.url}/renewal-info/abc.def`, { signal: AbortSignal.timeout(5_000) });
      expect(response.status).toBe(200);
      expect(response.headers.get("retry-after")).toBe("60");
      expect(await response.json()).toEqual({ suggestedWindow: {} });
    }
    // Without the rule Pebble has no such endpoint.
    proxy.clearRules();
    const missing = await fetch(`${proxy.url}/renewal-info/abc.def`, { signal: AbortSignal.timeout(5_000) });
    await missing.arrayBuffer();
    expect(missing.status).toBe(404);
  });

  it("delay holds the response back, and close() does not wait for it", async () => {
    const proxy = await newProxy();
    proxy.addRule({ path: "/dir", fault: { kind: "delay", ms: 300 } });
    const t0 = Date.now();
    await directory(proxy);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);

    proxy.addRule({ path: "/dir", fault: { kind: "delay", ms: 30_000 } });
    const pending = fetch(proxy.directoryUrl, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => r.text(),
    );
    // Close while the response is held: once the proxy holds it (a wait on that, not a sleep a loaded machine outlasts).
    await vi.waitFor(() => expect(proxy.requests.some((r) => r.path === "/dir" && r.fault === "delay" && r.status === 0)).toBe(true), { timeout: 10_000, interval: 5 });
    const t1 = Date.now();
    await proxy.close();
    await proxy.close(); // idempotent
    // Waiting would take until the client gives up (10 s) or the delay ends (30 s); the bound sits below
    // both with room for a loaded machine.
    expect(Date.now() - t1).toBeLessThan(8_000);
    await expect(pending).rejects.toThrow();
  });

  it("nth/times select a window of matching requests and the log counts them", async () => {
    const proxy = await newProxy();
    const dir = await directory(proxy);
    proxy.addRule({ method: "HEAD", path: "/nonce-plz", nth: 2, times: 2, fault: { kind: "status", status: 500 } });
    proxy.addRule({ method: "HEAD", path: (p) => p.startsWith("/nonce"), nth: 4, fault: { kind: "dropNonce" } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await headNonce(dir.newNonce)).status);
    expect(statuses).toEqual([200, 500, 500, 200, 200]);
    expect(proxy.requests.slice(1).map((r) => r.fault)).toEqual([undefined, "status", "status", "dropNonce", undefined]);
    expect(proxy.count()).toBe(6);
    expect(proxy.count({ method: "head" })).toBe(5);
    expect(proxy.count({ method: "HEAD", path: "/nonce" })).toBe(5);
    expect(proxy.count({ path: /^\/dir$/ })).toBe(1);
    expect(proxy.count({ method: "POST" })).toBe(0);
  });

  it("probability rules are deterministic for a fixed seed", async () => {
    const pattern = async (seed: number): Promise<boolean[]> => {
      const proxy = await newProxy({ seed });
      proxy.addRule({ method: "HEAD", path: "/nonce-plz", probability: 0.5, fault: { kind: "status", status: 503 } });
      const out: boolean[] = [];
      for (let i = 0; i < 24; i++) out.push((await headNonce(`${proxy.url}/nonce-plz`)).status === 503);
      expect(proxy.requests.map((r) => r.fault === "status")).toEqual(out);
      return out;
    };
    const a = await pattern(42);
    const b = await pattern(42);
    expect(b).toEqual(a);
    expect(a.filter(Boolean).length).toBeGreaterThan(0);
    expect(a.filter(Boolean).length).toBeLessThan(24);
    expect(await pattern(7)).not.toEqual(a);
  });

  it("survives malformed requests and answers 502 when upstream is down", async () => {
    const proxy = await newProxy();
    const port = Number(new URL(proxy.url).port);
    const reply = await rawExchange(port, "THIS IS NOT HTTP\r\n\r\n");
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    const absolute = await rawExchange(port, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    expect(absolute).toMatch(/^HTTP\/1\.1 400/);
    await directory(proxy);

    // Upstream on a port nobody listens on.
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const dead = await newProxy({ upstream: `https://127.0.0.1:${closedPort}` });
    const response = await fetch(dead.directoryUrl, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(502);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(dead.requests).toEqual([{ method: "GET", path: "/dir", status: 502 }]);
  });
});
