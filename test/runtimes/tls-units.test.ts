import { createServer, type AddressInfo } from "node:net";
import { connect } from "node:tls";
import { describe, expect, it } from "vitest";
import { acmeHttpHandler } from "../../src/tls/fetch-http-handler.ts";
import { isAcmeTlsAlpnHello, parseClientHello } from "../../src/tls/client-hello.ts";
import { startPeriodicTask } from "../../src/tls/periodic-task.ts";
import { answerPlainHttp, httpsLocation } from "../../src/tls/plain-http.ts";

/** The first bytes a real Node TLS client sends with these options. */
async function captureClientHello(options: { servername?: string; ALPNProtocols?: string[]; maxVersion?: "TLSv1.2" | "TLSv1.3" }): Promise<Uint8Array> {
  const captured = new Promise<Uint8Array>((resolve) => {
    const server = createServer((socket) => {
      socket.once("data", (chunk: Buffer) => {
        resolve(new Uint8Array(chunk));
        socket.destroy();
        server.close();
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const client = connect({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...options });
      client.on("error", () => {});
    });
  });
  return captured;
}

const tokens = new Map([["tok_en-1", "tok_en-1.thumb"]]);
const fakeManager = { httpChallengeResponse: async (token: string) => tokens.get(token) };

describe("parseClientHello", () => {
  it("reads SNI and ALPN from real ClientHellos (TLS 1.2 and 1.3)", async () => {
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      const bytes = await captureClientHello({ servername: "Example.TEST", ALPNProtocols: ["acme-tls/1"], maxVersion });
      const parsed = parseClientHello(bytes);
      expect(parsed).toEqual({ status: "ok", hello: { serverName: "example.test", alpnProtocols: ["acme-tls/1"] } });
      if (parsed.status === "ok") expect(isAcmeTlsAlpnHello(parsed.hello)).toBe(true);
    }
    const browser = parseClientHello(await captureClientHello({ servername: "a.example.test", ALPNProtocols: ["h2", "http/1.1"] }));
    expect(browser).toEqual({ status: "ok", hello: { serverName: "a.example.test", alpnProtocols: ["h2", "http/1.1"] } });
    if (browser.status === "ok") expect(isAcmeTlsAlpnHello(browser.hello)).toBe(false);
    // Node sends no SNI for IP addresses and no ALPN extension unless asked.
    expect(parseClientHello(await captureClientHello({}))).toEqual({ status: "ok", hello: { alpnProtocols: [] } });
  });

  it("asks for more bytes until the hello is complete, across TCP reads and TLS records", async () => {
    const bytes = await captureClientHello({ servername: "split.example.test", ALPNProtocols: ["acme-tls/1"] });
    for (let n = 0; n < bytes.length; n++) expect(parseClientHello(bytes.subarray(0, n)).status).toBe("incomplete");
    // The same handshake message fragmented over two records (RFC 8446 §5.1 allows it).
    const message = bytes.subarray(5);
    const cut = 40;
    const record = (part: Uint8Array) => new Uint8Array([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff, ...part]);
    const two = new Uint8Array([...record(message.subarray(0, cut)), ...record(message.subarray(cut))]);
    expect(parseClientHello(two.subarray(0, 5 + cut + 5 + 3)).status).toBe("incomplete");
    expect(parseClientHello(two)).toEqual({ status: "ok", hello: { serverName: "split.example.test", alpnProtocols: ["acme-tls/1"] } });
  });

  it("rejects what is not a ClientHello, and malformed lengths, without throwing", async () => {
    expect(parseClientHello(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).status).toBe("invalid");
    expect(parseClientHello(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).status).toBe("invalid");
    const bytes = await captureClientHello({ servername: "a.example.test" });
    // Corrupt every single byte in turn: the parser must answer, never throw.
    for (let i = 5; i < bytes.length; i++) {
      const copy = bytes.slice();
      copy[i] = 0xff;
      expect(["ok", "invalid", "incomplete"]).toContain(parseClientHello(copy).status);
    }
  });
});

describe("the plain-HTTP port", () => {
  it("answers live tokens, 404s unknown ones, redirects GET/HEAD with 301 and refuses other methods", async () => {
    const token = await answerPlainHttp(fakeManager, { method: "GET", host: "a.example.test", target: "/.well-known/acme-challenge/tok_en-1?x" });
    expect(token).toMatchObject({ status: 200, body: "tok_en-1.thumb" });
    const head = await answerPlainHttp(fakeManager, { method: "HEAD", host: "a.example.test", target: "/.well-known/acme-challenge/tok_en-1" });
    expect(head).toMatchObject({ status: 200, body: "" });
    expect(await answerPlainHttp(fakeManager, { method: "GET", host: "a", target: "/.well-known/acme-challenge/nope" })).toMatchObject({ status: 404 });
    expect(await answerPlainHttp(fakeManager, { method: "POST", host: "a", target: "/.well-known/acme-challenge/tok_en-1" })).toMatchObject({ status: 405 });
    expect(await answerPlainHttp(fakeManager, { method: "GET", host: "A.example.test:80", target: "/p?q=1" })).toMatchObject({
      status: 301,
      headers: { location: "https://a.example.test/p?q=1" },
    });
    expect(await answerPlainHttp(fakeManager, { method: "PUT", host: "a.example.test", target: "/" })).toMatchObject({ status: 400 });
    expect(await answerPlainHttp(fakeManager, { method: "GET", host: "a", target: "/" }, { hasFallback: true })).toBe("fallback");
  });

  it("builds redirect targets only from plain host headers", () => {
    expect(httpsLocation("a.example.test", "/x", 8443)).toBe("https://a.example.test:8443/x");
    expect(httpsLocation("[::1]:80", "/", 443)).toBe("https://[::1]/");
    expect(httpsLocation("a.example.test", "http://other.test/path?q", 443)).toBe("https://a.example.test/path?q");
    expect(httpsLocation("a.example.test", "//evil.test/x", 443)).toBe("https://a.example.test/");
    for (const bad of [undefined, "", "evil.test/x", "a b", "user@a.test", "a.test:99999x", "a.test\r\nx: y"]) {
      expect(httpsLocation(bad, "/", 443)).toBeUndefined();
    }
  });

  it("acmeHttpHandler speaks fetch: tokens, redirect, fallback", async () => {
    const handler = acmeHttpHandler(fakeManager, { httpsPort: 8443 });
    const ok = await handler(new Request("http://a.example.test/.well-known/acme-challenge/tok_en-1"));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("tok_en-1.thumb");
    const redirect = await handler(new Request("http://a.example.test/x?y"));
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get("location")).toBe("https://a.example.test:8443/x?y");
    const withFallback = acmeHttpHandler(fakeManager, { fallback: () => new Response("app", { status: 418 }) });
    expect((await withFallback(new Request("http://a.example.test/x"))).status).toBe(418);
    expect((await withFallback(new Request("http://a.example.test/.well-known/acme-challenge/tok_en-1"))).status).toBe(200);
  });
});

describe("startPeriodicTask", () => {
  it("never overlaps runs, joins runNow to the run in progress, and aborts it on stop", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let release: () => void = () => {};
    let seenSignal: AbortSignal | undefined;
    const task = startPeriodicTask(
      async (signal) => {
        seenSignal = signal;
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((r) => (release = r));
        running--;
        return runs;
      },
      5,
      () => {},
    );
    const a = task.runNow();
    const b = task.runNow();
    expect(b).toBe(a);
    // Let the interval fire a few times while the run is held open.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
    release();
    expect(await a).toBe(1);
    task.stop();
    expect(seenSignal?.aborted).toBe(true);
    expect(maxRunning).toBe(1);
    expect(() => startPeriodicTask(async () => 0, 0, () => {})).toThrow(RangeError);
  });
});
