import { X509Certificate } from "node:crypto";
import { createServer, request as httpRequest } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import type { SecureContext, TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateManager, TlsAlpn01Solver, tlsAlpn01Certificate } from "../../src/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { answerTlsAlpn01, createHttpsServer, httpHandler, listen, tlsServerOptions } from "../../src/tls/node.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { handshake, httpsGet, normalizeSerial } from "./tls-client.ts";

let pebble: PebbleInstance;
let roots: string[];

beforeAll(async () => {
  pebble = await startPebble();
  roots = await pebble.rootsPem();
});
afterAll(async () => {
  await pebble?.stop();
});

const fastRetry = { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 };
let unique = 0;
const names = (tag: string, n = 1) => Array.from({ length: n }, (_, i) => `${tag}${++unique}-${i}.node.example.test`);

function manager(extra: Partial<ConstructorParameters<typeof CertificateManager>[0]> = {}): CertificateManager {
  return new CertificateManager({
    termsOfServiceAgreed: true,
    storage: new MemoryStorage(),
    directoryUrl: pebble.directoryUrl,
    fetch: pebble.fetch,
    retry: fastRetry,
    ...extra,
  });
}

const hello = (body: string) => (_req: unknown, res: { writeHead(s: number, h: Record<string, string>): void; end(b: string): void }) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(body);
};

/** A plain-HTTP request to 127.0.0.1 with a chosen Host header. */
function plainRequest(port: number, method: string, path: string, host: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A GET over a kept-alive agent; reports which local port the connection used. */
function keptAliveGet(agent: Agent, port: number, serverName: string): Promise<{ body: string; localPort: number | undefined; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, servername: serverName, headers: { host: serverName }, agent, ca: roots }, (res) => {
      const socket = res.socket as TLSSocket;
      const seen = { localPort: socket.localPort, serial: normalizeSerial(socket.getPeerCertificate().serialNumber) };
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ body, ...seen }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Obtains a certificate with the plain-HTTP handler answering http-01 on Pebble's port meanwhile. */
async function manageWithHttp01(m: CertificateManager, list: string[]) {
  const server = createServer(httpHandler(m));
  await new Promise<void>((r) => server.listen(pebble.httpPort, "127.0.0.1", () => r()));
  try {
    return await m.manage(list);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("edgecert/tls/node", () => {
  it("listen(): http-01 on the plain port, SNI from the manager, 301 to HTTPS, renewal served on the same listener", async () => {
    const m = manager();
    const list = names("listen", 2);
    const auto = await listen(m, {
      names: list,
      handler: hello("hello from node"),
      httpsPort: 0,
      httpPort: pebble.httpPort,
      hostname: "127.0.0.1",
    });
    try {
      expect(auto.certificate.names.sort()).toEqual([...list].sort());
      const first = normalizeSerial(auto.certificate.serialNumber);
      for (const name of list) {
        const r = await httpsGet({ port: auto.httpsPort, serverName: name, ca: roots });
        expect(r).toMatchObject({ authorized: true, serialNumber: first, status: 200, body: "hello from node" });
      }
      // A name the manager has nothing for (and no host policy): the handshake fails.
      await expect(handshake({ port: auto.httpsPort, serverName: "other.node.example.test", ca: roots })).rejects.toThrow();

      // The plain-HTTP port: redirect GET/HEAD, refuse other methods, 404 for unknown tokens.
      const redirect = await plainRequest(auto.httpPort!, "GET", "/some/path?q=1", `${list[0]}:${auto.httpPort}`);
      expect(redirect.status).toBe(301);
      expect(redirect.location).toBe(`https://${list[0]}:${auto.httpsPort}/some/path?q=1`);
      expect((await plainRequest(auto.httpPort!, "HEAD", "/", list[0]!)).status).toBe(301);
      expect((await plainRequest(auto.httpPort!, "POST", "/form", list[0]!)).status).toBe(400);
      expect((await plainRequest(auto.httpPort!, "GET", "/x", "bad host/evil")).status).toBe(400);
      expect((await plainRequest(auto.httpPort!, "GET", "/.well-known/acme-challenge/unknown", list[0]!)).status).toBe(404);

      // A kept-alive connection opened before the renewal keeps working; new handshakes see the new serial.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const before = await keptAliveGet(agent, auto.httpsPort, list[0]!);
      expect(before.serial).toBe(first);
      const renewed = await m.renew(list);
      const second = normalizeSerial(renewed.serialNumber);
      expect(second).not.toBe(first);
      const reused = await keptAliveGet(agent, auto.httpsPort, list[0]!);
      expect(reused.localPort).toBe(before.localPort);
      expect(reused.body).toBe("hello from node");
      agent.destroy();
      for (const name of list) {
        expect(await handshake({ port: auto.httpsPort, serverName: name, ca: roots })).toMatchObject({ authorized: true, serialNumber: second });
      }
      expect(auto.https.listening).toBe(true);

      // The timer's run: nothing is due right after a renewal.
      expect(await auto.renewal!.runNow()).toEqual({ checked: 1, renewed: [], failed: [] });
    } finally {
      await auto.close();
    }
    expect(auto.https.listening).toBe(false);
    expect(auto.http?.listening).toBe(false);
  });

  it("the renewal timer renews what is due and the next handshake serves it", async () => {
    let now = Date.now();
    const m = manager({ now: () => now });
    const list = names("timer");
    const results: number[] = [];
    const auto = await listen(m, {
      names: list,
      handler: hello("timer"),
      httpsPort: 0,
      httpPort: pebble.httpPort,
      hostname: "127.0.0.1",
      renewIntervalMs: 20,
      onRenewal: (r) => results.push(r.renewed.length),
    });
    try {
      const first = normalizeSerial(auto.certificate.serialNumber);
      now = auto.certificate.renewAt.getTime() + 1;
      // Bounded wait for the timer (not a timing assertion: only the outcome is checked).
      let seen = first;
      for (let i = 0; i < 300 && seen === first; i++) {
        await new Promise((r) => setTimeout(r, 20));
        seen = (await handshake({ port: auto.httpsPort, serverName: list[0]!, ca: roots })).serialNumber;
      }
      expect(seen).not.toBe(first);
      expect(results).toContain(1);
    } finally {
      await auto.close();
    }
  });

  it("tls-alpn-01 on the HTTPS port: validations get the challenge certificate, browsers the real one", async () => {
    const solver = new TlsAlpn01Solver();
    const validated: string[] = [];
    const presenting = {
      present: solver.present.bind(solver),
      cleanup: solver.cleanup.bind(solver),
      certificateFor: (serverName: string) => {
        validated.push(serverName);
        return solver.certificateFor(serverName);
      },
    };
    // tls-alpn-01 only: nothing answers http-01 in this test.
    const m = manager({ solvers: { "tls-alpn-01": presenting } });
    const list = names("alpn", 2);
    const auto = await listen(m, {
      names: list,
      handler: hello("alpn"),
      tlsAlpn01: presenting,
      httpsPort: pebble.tlsPort,
      httpPort: false,
      hostname: "127.0.0.1",
      renewIntervalMs: false,
    });
    try {
      expect([...new Set(validated)].sort()).toEqual([...list].sort());
      const first = normalizeSerial(auto.certificate.serialNumber);
      const r = await httpsGet({ port: auto.httpsPort, serverName: list[1]!, ca: roots, alpnProtocols: ["http/1.1"] });
      expect(r).toMatchObject({ authorized: true, serialNumber: first, status: 200, body: "alpn" });
      // Renewal through tls-alpn-01 again, while the same server keeps serving.
      const renewed = await m.renew(list);
      expect((await handshake({ port: auto.httpsPort, serverName: list[0]!, ca: roots })).serialNumber).toBe(normalizeSerial(renewed.serialNumber));
      // No challenge is live now: an acme-tls/1 handshake fails rather than getting the real certificate.
      await expect(handshake({ port: auto.httpsPort, serverName: list[0]!, ca: roots, alpnProtocols: ["acme-tls/1"], verify: false })).rejects.toThrow();
    } finally {
      await auto.close();
    }
  });

  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    it(`routes acme-tls/1 ClientHellos to the challenge certificate (${maxVersion}); other ALPN lists to the real one`, async () => {
      const m = manager();
      const [name] = names("route");
      const real = await manageWithHttp01(m, [name!]);
      const challenge = await tlsAlpn01Certificate({ type: "dns", value: name! }, "token.thumbprint");
      const server = createHttpsServer(m, { handler: hello("real") });
      answerTlsAlpn01(server, { certificateFor: (n) => (n === name ? challenge : undefined) });
      answerTlsAlpn01(server, { certificateFor: () => undefined }); // a second call is a no-op
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      const port = (server.address() as { port: number }).port;
      try {
        const acme = await handshake({ port, serverName: name!, ca: roots, alpnProtocols: ["acme-tls/1"], maxVersion, verify: false });
        expect(acme.alpnProtocol).toBe("acme-tls/1");
        expect(acme.serialNumber).toBe(normalizeSerial(new X509Certificate(challenge.certificatePem).serialNumber));
        // acme-tls/1 among others is a browser, not a validation (RFC 8737 §3: offered alone).
        const mixed = await handshake({ port, serverName: name!, ca: roots, alpnProtocols: ["h2", "http/1.1", "acme-tls/1"], maxVersion });
        expect(mixed).toMatchObject({ authorized: true, serialNumber: normalizeSerial(real.serialNumber) });
        const plain = await httpsGet({ port, serverName: name!, ca: roots, maxVersion });
        expect(plain).toMatchObject({ authorized: true, serialNumber: normalizeSerial(real.serialNumber), body: "real" });
      } finally {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
      }
    });
  }

  it("tlsServerOptions builds one secure context per serial and a new one after renewal", async () => {
    const m = manager();
    const [name] = names("ctx");
    await manageWithHttp01(m, [name!]);
    const { SNICallback } = tlsServerOptions(m);
    const context = (n: string) =>
      new Promise<SecureContext | undefined>((resolve, reject) => SNICallback(n, (err, ctx) => (err ? reject(err) : resolve(ctx))));
    const a = await context(name!);
    expect(await context(name!.toUpperCase())).toBe(a);
    const server = createServer(httpHandler(m));
    await new Promise<void>((r) => server.listen(pebble.httpPort, "127.0.0.1", () => r()));
    await m.renew([name!]).finally(() => new Promise<void>((r) => server.close(() => r())));
    const b = await context(name!);
    expect(b).not.toBe(a);
    expect(await context(name!)).toBe(b);
    await expect(context("unknown.node.example.test")).rejects.toThrow(/no certificate/);
  });
});

