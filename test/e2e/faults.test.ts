import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AcmeClient,
  AcmeProblem,
  OrderNotResumableError,
  Http01Solver,
  ariCertificateId,
  generateKeyPair,
  isRateLimited,
  obtainCertificate,
  parseCertificate,
} from "../../src/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { serveHttp01, type Http01Server } from "../support/challenge-servers.ts";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

// Faults Pebble cannot produce, injected by a proxy in front of it.
let pebble: PebbleInstance;
let proxy: FaultProxy;
let http: Http01Server;
const http01 = new Http01Solver();
const fastRetry = { baseDelayMs: 5, maxDelayMs: 20 };

beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startFaultProxy({ upstream: new URL(pebble.directoryUrl).origin, upstreamCa: pebble.caPem, tls: true });
  http = await serveHttp01(pebble.httpPort, http01);
});
afterEach(() => proxy.clearRules());
afterAll(async () => {
  await http?.close();
  await proxy?.close();
  await pebble?.stop();
});

async function client(retry: Partial<typeof fastRetry & { maxAttempts: number; maxRetryAfterMs: number; requestTimeoutMs: number }> = fastRetry) {
  const c = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: await generateKeyPair(), fetch: proxy.fetch, retry });
  await c.newAccount({ termsOfServiceAgreed: true });
  return c;
}

/**
 * The client's request timeout where a test stalls a response: a stall is never answered (the proxy holds
 * it until the client gives up), so this only has to outlast a loaded machine's slow answers.
 */
const STALL_TIMEOUT_MS = 1_000;

/** Whether the first POST to `path` since request `from` was stalled and never answered: the client's timeout ended it. */
function stalled(from: number, path: string): boolean {
  const first = proxy.requests.slice(from).find((r) => r.method === "POST" && r.path.startsWith(path));
  return first?.fault === "stall" && first.status === 0;
}

const issue = (c: AcmeClient, name: string) => obtainCertificate({ termsOfServiceAgreed: true, client: c, names: [name], solvers: { "http-01": http01 } });

describe("faults injected in front of Pebble", () => {
  it("429 with Retry-After is waited out and retried; the CA's problem is typed", async () => {
    const c = await client();
    proxy.addRule({ method: "POST", path: "/order-plz", fault: { kind: "status", status: 429, retryAfter: "1", detail: "slow down" } });
    const started = proxy.count();
    const cert = await issue(c, "ratelimited.example.test");
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["ratelimited.example.test"]);
    expect(proxy.requests.slice(started).filter((r) => r.fault === "status").length).toBe(1);
  });

  it("a Retry-After longer than the caller accepts is thrown as rate limited, with the delay", async () => {
    const c = await client({ ...fastRetry, maxRetryAfterMs: 1_000 });
    proxy.addRule({ method: "POST", path: "/order-plz", fault: { kind: "status", status: 429, retryAfter: "3600", detail: "too many orders" } });
    const err = await c.newOrder({ identifiers: ["later.example.test"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcmeProblem);
    expect(isRateLimited(err)).toBe(true);
    expect((err as AcmeProblem).retryAfterMs).toBe(3_600_000);
    expect((err as AcmeProblem).detail).toBe("too many orders");
  });

  it("503 and 500 on idempotent requests are retried with backoff", async () => {
    const c = await client();
    proxy.addRule({ method: "POST", path: "/authZ/", times: 2, fault: { kind: "status", status: 503 } });
    proxy.addRule({ method: "POST", path: "/certZ/", fault: { kind: "status", status: 500 } });
    const cert = await issue(c, "flaky.example.test");
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["flaky.example.test"]);
  });

  // Issue 23 defect 9: newOrder after a failure that may have reached the CA. Orders are counted at the
  // CA side: requests the proxy forwarded and Pebble answered 201 Created.
  const ordersCreated = (from: number) => proxy.requests.slice(from).filter((r) => r.method === "POST" && r.path === "/order-plz" && r.upstreamStatus === 201);
  it.each([
    ["a 500 before the CA saw it", { kind: "status", status: 500 } as const, 0],
    ["a 503 before the CA saw it", { kind: "status", status: 503 } as const, 0],
    ["a reset before the CA saw it", { kind: "reset" } as const, 0],
    ["a 500 after the CA created it", { kind: "status", status: 500, afterUpstream: true } as const, 1],
    ["a 503 after the CA created it", { kind: "status", status: 503, afterUpstream: true } as const, 1],
    ["a reset after the CA created it", { kind: "reset", afterUpstream: true } as const, 1],
  ])("newOrder after %s: the orders list is read before asking again; exactly one order exists at the CA", async (_name, fault, createdByFault) => {
    const c = await client();
    const from = proxy.requests.length;
    proxy.addRule({ method: "POST", path: "/order-plz", fault });
    const order = await c.newOrder({ identifiers: ["once.example.test"] });
    expect(order.status).toBe("pending");
    const created = ordersCreated(from);
    expect(created.length).toBe(1);
    expect(order.url).toBe(created[0]!.upstreamLocation);
    // Asked again only when the first request never reached the CA.
    expect(proxy.requests.slice(from).filter((r) => r.method === "POST" && r.path === "/order-plz").length).toBe(createdByFault ? 1 : 2);
    expect(proxy.requests.slice(from).some((r) => r.path.startsWith("/list-orderz/"))).toBe(true);
  });

  it("newOrder after a truncated answer: read back from its Location, exactly one order at the CA", async () => {
    const c = await client();
    const from = proxy.requests.length;
    proxy.addRule({ method: "POST", path: "/order-plz", fault: { kind: "truncate" } });
    const order = await c.newOrder({ identifiers: ["cut.example.test"] });
    const created = ordersCreated(from);
    expect(created.length).toBe(1);
    expect(order.url).toBe(created[0]!.upstreamLocation);
    expect(order.identifiers).toEqual([{ type: "dns", value: "cut.example.test" }]);
  });

  it("501 Not Implemented is definitive (RFC 9110 §15.6.2): thrown after one request, not retried", async () => {
    const c = await client();
    const from = proxy.requests.length;
    proxy.addRule({ method: "POST", path: "/authZ/", times: Infinity, fault: { kind: "status", status: 501 } });
    const order = await c.newOrder({ identifiers: ["unimplemented.example.test"] });
    const err = await c.getAuthorization(order.authorizations[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcmeProblem);
    expect((err as AcmeProblem).status).toBe(501);
    expect(proxy.requests.slice(from).filter((r) => r.path.startsWith("/authZ/")).length).toBe(1);
  });

  it("a newOrder whose body is garbage is recovered from its Location, not created twice", async () => {
    const c = await client();
    const before = proxy.count({ method: "POST", path: "/order-plz" });
    proxy.addRule({ method: "POST", path: "/order-plz", fault: { kind: "garbage" } });
    const order = await c.newOrder({ identifiers: ["garbled.example.test"] });
    expect(order.status).toBe("pending");
    expect(order.identifiers).toEqual([{ type: "dns", value: "garbled.example.test" }]);
    expect(proxy.count({ method: "POST", path: "/order-plz" }) - before).toBe(1);
  });

  it("garbage from the directory is retried (bounded), then reported as not_acme_directory with the URL", async () => {
    proxy.addRule({ method: "GET", path: "/dir", times: Infinity, fault: { kind: "garbage", body: "<html>oops</html>" } });
    const c = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: await generateKeyPair(), fetch: proxy.fetch, retry: { ...fastRetry, maxAttempts: 3 } });
    const err = await c.directory().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgecertError);
    // A page once may be a glitch (retried, like the fault matrix proves); every time, the wrong URL.
    expect((err as EdgecertError).code).toBe("not_acme_directory");
    expect((err as Error).message).toContain("not JSON");
    expect((err as Error).message).toContain(`${proxy.directoryUrl} is not an ACME directory`);
    expect(proxy.count({ method: "GET", path: "/dir" })).toBeGreaterThanOrEqual(3);
  });

  it("responses without Replay-Nonce: falls back to newNonce and never reuses a nonce", async () => {
    const c = await client();
    const start = proxy.requests.length;
    proxy.addRule({ method: "POST", probability: 0.5, fault: { kind: "dropNonce" } });
    const cert = await issue(c, "nononce.example.test");
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["nononce.example.test"]);
    const sent = proxy.requests.slice(start).map((r) => r.nonceSent).filter((n): n is string => !!n);
    expect(new Set(sent).size).toBe(sent.length);
  });

  it("connection resets on reads are retried", async () => {
    const c = await client();
    proxy.addRule({ method: "POST", path: "/my-order/", times: 2, fault: { kind: "reset" } });
    const cert = await issue(c, "reset.example.test");
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["reset.example.test"]);
  });

  it("a stalled response hits the per-request timeout and is retried", async () => {
    const c = await client({ ...fastRetry, requestTimeoutMs: STALL_TIMEOUT_MS });
    const from = proxy.requests.length;
    proxy.addRule({ method: "POST", path: "/authZ/", fault: { kind: "stall" } });
    const cert = await issue(c, "stall.example.test");
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["stall.example.test"]);
    expect(stalled(from, "/authZ/")).toBe(true);
  });

  it("an oversized body is refused as bad_response, not buffered", async () => {
    const c = await client({ ...fastRetry, maxAttempts: 2 });
    proxy.addRule({ method: "POST", path: "/my-account/", times: Infinity, fault: { kind: "oversize", bytes: 3 * 1024 * 1024 } });
    const err = await c.getAccount().catch((e: unknown) => e);
    expect((err as EdgecertError).code).toBe("bad_response");
    expect((err as Error).message).toMatch(/too large|larger than/);
  });

  it("a subproblem names the identifier that failed (RFC 8555 §6.7.1)", async () => {
    const c = await client();
    proxy.addRule({
      method: "POST",
      path: "/order-plz",
      fault: {
        kind: "respond",
        status: 400,
        headers: { "content-type": "application/problem+json" },
        body: JSON.stringify({
          type: "urn:ietf:params:acme:error:rejectedIdentifier",
          detail: "Some of the identifiers requested were rejected",
          subproblems: [{ type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "forbidden", identifier: { type: "dns", value: "bad.example.test" } }],
        }),
      },
    });
    const err = (await c.newOrder({ identifiers: ["ok.example.test", "bad.example.test"] }).catch((e: unknown) => e)) as AcmeProblem;
    expect(err.kind).toBe("rejectedIdentifier");
    expect(err.subproblems).toEqual([{ type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "forbidden", identifier: { type: "dns", value: "bad.example.test" } }]);
  });

  it("newOrder sends notBefore/notAfter, profile and replaces as RFC 8555 §7.4, RFC 9773 §5 and the profiles draft say", async () => {
    const c = await client();
    const notBefore = new Date(Date.now() + 60_000);
    const notAfter = new Date(Date.now() + 86_400_000);
    // Pebble 2.4 knows none of these fields beyond accepting the order; the proxy answers for it.
    proxy.addRule({ method: "POST", path: "/order-plz", fault: { kind: "status", status: 400, problemType: "urn:ietf:params:acme:error:malformed", detail: "inspected" } });
    await c.newOrder({ identifiers: ["fields.example.test", "192.0.2.1"], notBefore, notAfter, profile: "shortlived", replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" }).catch(() => undefined);
    const sent = proxy.requests.filter((r) => r.path === "/order-plz").at(-1)?.payload;
    expect(sent).toEqual({
      identifiers: [{ type: "dns", value: "fields.example.test" }, { type: "ip", value: "192.0.2.1" }],
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      profile: "shortlived",
      replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    });
  });

  it("ARI: renewalInfo from the directory's endpoint, keyed by AKI and serial (RFC 9773)", async () => {
    const c = await client();
    const cert = await issue(c, "ari.example.test");
    const id = ariCertificateId(parseCertificate(cert.certificatePem));
    const window = { start: "2027-01-01T00:00:00Z", end: "2027-01-03T00:00:00Z" };
    proxy.addRule({
      method: "GET",
      path: "/dir",
      times: Infinity,
      fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) },
    });
    proxy.addRule({
      method: "GET",
      path: `/renewal-info/${id}`,
      fault: { kind: "respond", status: 200, headers: { "content-type": "application/json", "retry-after": "21600" }, body: JSON.stringify({ suggestedWindow: window }) },
    });
    const fresh = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: await generateKeyPair(), fetch: proxy.fetch });
    const info = await fresh.renewalInfo(cert.certificatePem);
    expect(info.suggestedWindow.start.toISOString()).toBe("2027-01-01T00:00:00.000Z");
    expect(info.suggestedWindow.end.toISOString()).toBe("2027-01-03T00:00:00.000Z");
    expect(info.retryAfterMs).toBe(21_600_000);
    // Without the endpoint in the directory, a clear error.
    const noAri = await c.renewalInfo(cert.certificatePem).catch((e: unknown) => e);
    expect((noAri as EdgecertError).message).toMatch(/does not offer ARI/);
  });

});

describe("requests that are not idempotent, after a failure that may have acted (issue 11 point 9)", () => {
  it("acceptChallenge: two lost accepts are re-read and accepted again, not given up", async () => {
    const c = await client();
    // Reset before forwarding: the CA never saw these two accepts; POST-as-GET reads pass.
    proxy.addRule({ method: "POST", path: "/chalZ/", body: "payload", times: 2, fault: { kind: "reset" } });
    const cert = await issue(c, "accept-lost.example.test");
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["accept-lost.example.test"]);
    expect(proxy.requests.filter((r) => r.fault === "reset").length).toBeGreaterThanOrEqual(2);
  });

  it("rolloverAccountKey: a response lost after the CA acted is not resent with the old key; the new key signs", async () => {
    const c = await client({ ...fastRetry, requestTimeoutMs: STALL_TIMEOUT_MS });
    const newKey = await generateKeyPair();
    // Forwarded (the CA rolls the key over), never answered: the client's timeout ends it.
    const from = proxy.requests.length;
    proxy.addRule({ method: "POST", path: "/rollover-account-key", fault: { kind: "stall" } });
    await c.rolloverAccountKey(newKey);
    expect(stalled(from, "/rollover-account-key")).toBe(true);
    expect((await c.getAccount()).status).toBe("valid");
    const byNewKey = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: newKey, fetch: proxy.fetch });
    expect((await byNewKey.findAccount()).url).toBe(c.accountUrl);
  });

  it("revokeCertificate: a response lost after the CA acted ends in success (alreadyRevoked on the re-POST)", async () => {
    const c = await client({ ...fastRetry, requestTimeoutMs: STALL_TIMEOUT_MS });
    const cert = await issue(c, "revoke-lost.example.test");
    const from = proxy.requests.length;
    proxy.addRule({ method: "POST", path: "/revoke-cert", fault: { kind: "stall" } });
    await c.revokeCertificate(cert.certificatePem);
    expect(stalled(from, "/revoke-cert")).toBe(true);
    // It really is revoked: a fresh request says so.
    const again = await c.revokeCertificate(cert.certificatePem).catch((e: unknown) => e);
    expect((again as AcmeProblem).kind).toBe("alreadyRevoked");
  });
});

describe("CA-supplied URLs and ARI bounds (issue 11 point 9)", () => {
  it("an order Location on another origin is refused, not followed", async () => {
    const c = await client();
    proxy.addRule({
      method: "POST",
      path: "/order-plz",
      fault: { kind: "rewriteJson", edit: (json) => json, headers: { location: "https://127.0.0.2:9/my-order/evil" } },
    });
    const err = await c.newOrder({ identifiers: ["elsewhere.example.test"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgecertError);
    expect((err as Error).message).toMatch(/outside the directory's origin/);
  });

  it("alternates: at most 8 followed, duplicates and other origins skipped", async () => {
    const c = await client();
    const { chainPem } = await issue(c, "alternates-src.example.test");
    // 20 distinct alternates on the directory's origin (answered by the proxy), one duplicate, one elsewhere.
    const links = [
      ...Array.from({ length: 20 }, (_, i) => `<${proxy.url}/alt/${i}>;rel="alternate"`),
      `<${proxy.url}/alt/0>;rel="alternate"`,
      `<https://127.0.0.2:9/evil>;rel="alternate"`,
    ].join(", ");
    proxy.addRule({ method: "POST", path: "/certZ/", fault: { kind: "setHeaders", headers: { link: links } } });
    proxy.addRule({ method: "POST", path: "/alt/", times: Infinity, fault: { kind: "respond", status: 200, headers: { "content-type": "application/pem-certificate-chain" }, body: chainPem } });
    const before = proxy.requests.length;
    const cert = await issue(c, "alternates.example.test");
    expect(cert.alternates.length).toBe(1 + 8);
    expect(proxy.requests.slice(before).filter((r) => r.path.startsWith("/alt/")).length).toBe(8);
  });

  it("ARI Retry-After is held between a minute and a day (RFC 9773 §4.3)", async () => {
    const c = await client();
    const cert = await issue(c, "ari-clamp.example.test");
    const id = ariCertificateId(parseCertificate(cert.certificatePem));
    proxy.addRule({ method: "GET", path: "/dir", times: Infinity, fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) } });
    const answer = (retryAfter: string) =>
      proxy.addRule({
        method: "GET",
        path: `/renewal-info/${id}`,
        fault: { kind: "respond", status: 200, headers: { "content-type": "application/json", "retry-after": retryAfter }, body: JSON.stringify({ suggestedWindow: { start: "2027-01-01T00:00:00Z", end: "2027-01-02T00:00:00Z" } }) },
      });
    const fresh = () => new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey: cert.certificateKey!, fetch: proxy.fetch });
    answer("1");
    expect((await fresh().renewalInfo(cert.certificatePem)).retryAfterMs).toBe(60_000);
    proxy.clearRules();
    proxy.addRule({ method: "GET", path: "/dir", times: Infinity, fault: { kind: "rewriteJson", edit: (json) => ({ ...(json as object), renewalInfo: `${proxy.url}/renewal-info` }) } });
    answer("31536000");
    expect((await fresh().renewalInfo(cert.certificatePem)).retryAfterMs).toBe(86_400_000);
  });
});

describe("resuming an order (issue 11 point 6: typed errors the manager acts on)", () => {
  it("an order the CA does not know is OrderNotResumableError not_found; one for other names is different_identifiers", async () => {
    const c = await client();
    const order = await c.newOrder({ identifiers: ["resume-a.example.test"] });
    const gone = await obtainCertificate({ termsOfServiceAgreed: true, client: c, names: ["resume-a.example.test"], solvers: { "http-01": http01 }, resumeOrderUrl: `${order.url}x` }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OrderNotResumableError);
    expect((gone as OrderNotResumableError).reason).toBe("not_found");
    const other = await obtainCertificate({ termsOfServiceAgreed: true, client: c, names: ["resume-b.example.test"], solvers: { "http-01": http01 }, resumeOrderUrl: order.url }).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(OrderNotResumableError);
    expect((other as OrderNotResumableError).reason).toBe("different_identifiers");
    // And the right one resumes.
    const cert = await obtainCertificate({ termsOfServiceAgreed: true, client: c, names: ["resume-a.example.test"], solvers: { "http-01": http01 }, resumeOrderUrl: order.url });
    expect(cert.orderUrl).toBe(order.url);
  });
});
