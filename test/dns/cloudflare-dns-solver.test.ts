import { afterEach, describe, expect, it } from "vitest";
import { dns01TxtValue } from "../../src/acme/challenge-helpers.ts";
import type { ChallengeContext } from "../../src/acme/solver.ts";
import type { AcmeChallenge } from "../../src/acme/types.ts";
import { CloudflareApiError, CloudflareDnsSolver, type CloudflareDnsSolverOptions } from "../../src/dns/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { silentLogger } from "../../src/logger.ts";
import { startCloudflareApiServer, type CloudflareApiServer, type CloudflareApiServerOptions } from "../support/cloudflare-api-server.ts";

const TOKEN = "test-token-0123456789";
let api: CloudflareApiServer | undefined;

afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function startApi(options: Partial<CloudflareApiServerOptions> = {}): Promise<CloudflareApiServer> {
  api = await startCloudflareApiServer({ tokens: [{ token: TOKEN }], zones: [{ name: "example.test" }, { name: "sub.example.test" }], ...options });
  return api;
}

function solverFor(server: CloudflareApiServer, options: Partial<CloudflareDnsSolverOptions> = {}): CloudflareDnsSolver {
  // propagation: false — these tests are about the API; DoH waiting is covered in doh.test.ts and the e2e test.
  return new CloudflareDnsSolver({ apiToken: TOKEN, apiBaseUrl: server.url, propagation: false, retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...options });
}

let serial = 0;
function challengeFor(name: string, wildcard = false): { challenge: AcmeChallenge; ctx: ChallengeContext; keyAuthorization: string } {
  const token = `token${++serial}`;
  const keyAuthorization = `${token}.thumbprint`;
  return {
    challenge: { type: "dns-01", url: `https://ca.test/chall/${token}`, status: "pending", token },
    ctx: {
      identifier: { type: "dns", value: name },
      wildcard,
      authorization: { url: `https://ca.test/authz/${token}`, identifier: { type: "dns", value: name }, status: "pending", challenges: [] },
      keyAuthorization,
      signal: new AbortController().signal,
      logger: silentLogger,
    },
    keyAuthorization,
  };
}

const txtAt = (server: CloudflareApiServer, zone: string, name: string) =>
  server.records(zone).filter((r) => r.type === "TXT" && r.name === name);

describe("CloudflareDnsSolver against a local Cloudflare API", () => {
  it("picks the longest matching zone and creates the TXT record with the right name, content and TTL", async () => {
    const server = await startApi();
    const solver = solverFor(server, { ttl: 120 });
    const { challenge, ctx, keyAuthorization } = challengeFor("a.sub.example.test");
    await solver.present(challenge, ctx);

    const records = txtAt(server, "sub.example.test", "_acme-challenge.a.sub.example.test");
    expect(records).toHaveLength(1);
    expect(records[0]!.content).toBe(await dns01TxtValue(keyAuthorization));
    expect(records[0]!.ttl).toBe(120);
    expect(server.records("example.test")).toEqual([]);
    // Longest suffix first: a.sub.example.test (no zone), then sub.example.test (found) — never example.test.
    expect(server.requests.filter((r) => r.path === "/zones").map((r) => r.query.name)).toEqual(["a.sub.example.test", "sub.example.test"]);

    await solver.cleanup(challenge, ctx);
    expect(server.records("sub.example.test")).toEqual([]);
  });

  it("wildcard and apex: both values coexist, and cleanup removes only this solver's records", async () => {
    const server = await startApi();
    const unrelated = await server.addRecord("example.test", { name: "_acme-challenge.example.test", type: "TXT", content: "someone-elses-value" });
    const solver = solverFor(server);
    const apex = challengeFor("example.test");
    const wild = challengeFor("example.test", true);
    await Promise.all([solver.present(apex.challenge, apex.ctx), solver.present(wild.challenge, wild.ctx)]);

    const contents = () => txtAt(server, "example.test", "_acme-challenge.example.test").map((r) => r.content).sort();
    const [valueApex, valueWild] = await Promise.all([dns01TxtValue(apex.keyAuthorization), dns01TxtValue(wild.keyAuthorization)]);
    expect(contents()).toEqual(["someone-elses-value", valueApex, valueWild].sort());
    // Both challenges share one zone lookup.
    expect(server.requests.filter((r) => r.path === "/zones")).toHaveLength(1);

    await solver.cleanup(apex.challenge, apex.ctx);
    expect(contents()).toEqual(["someone-elses-value", valueWild].sort());
    await solver.cleanup(wild.challenge, wild.ctx);
    expect(txtAt(server, "example.test", "_acme-challenge.example.test")).toEqual([unrelated]);
    // Deletes went to exactly the created ids.
    expect(server.requests.filter((r) => r.method === "DELETE")).toHaveLength(2);
  });

  it("uses a configured zoneId without looking zones up", async () => {
    const server = await startApi({ tokens: [{ token: TOKEN, zones: ["example.test"] }] });
    const zone = server.zones.find((z) => z.name === "example.test")!;
    const solver = solverFor(server, { zoneId: zone.id });
    const { challenge, ctx } = challengeFor("www.example.test");
    await solver.present(challenge, ctx);
    expect(txtAt(server, "example.test", "_acme-challenge.www.example.test")).toHaveLength(1);
    expect(server.requests.some((r) => r.path === "/zones")).toBe(false);
    await solver.cleanup(challenge, ctx);
  });

  it("retries 429 rate limits after Retry-After and succeeds", async () => {
    const server = await startApi();
    const solver = solverFor(server);
    server.rateLimit(1, 1); // Retry-After: 1 (second)
    const { challenge, ctx } = challengeFor("rate.example.test");
    await solver.present(challenge, ctx);
    expect(server.requests.slice(0, 2).map((r) => r.status)).toEqual([429, 200]);
    expect(txtAt(server, "example.test", "_acme-challenge.rate.example.test")).toHaveLength(1);
    await solver.cleanup(challenge, ctx);
  });

  it("gives up on a rate limit whose Retry-After is longer than allowed, with the API's message", async () => {
    const server = await startApi();
    const solver = solverFor(server, { retry: { maxRetryAfterMs: 1_000 } });
    server.rateLimit(1, 3_600);
    const { challenge, ctx } = challengeFor("slow.example.test");
    const err = await solver.present(challenge, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudflareApiError);
    expect((err as CloudflareApiError).status).toBe(429);
    expect((err as CloudflareApiError).retryAfterMs).toBe(3_600_000);
    expect((err as CloudflareApiError).message).toContain("971 Please wait and consider throttling your request speed");
  });

  it("surfaces an API refusal as a typed error carrying Cloudflare's codes and messages", async () => {
    const server = await startApi();
    const solver = solverFor(server);
    server.failNext("POST", /dns_records$/, 400, [{ code: 1004, message: "DNS Validation Error" }]);
    const { challenge, ctx } = challengeFor("refused.example.test");
    const err = await solver.present(challenge, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudflareApiError);
    expect(err).toBeInstanceOf(EdgecertError);
    const apiError = err as CloudflareApiError;
    expect(apiError.code).toBe("challenge_failed");
    expect(apiError.status).toBe(400);
    expect(apiError.errors).toEqual([{ code: 1004, message: "DNS Validation Error" }]);
    expect(apiError.message).toContain("1004 DNS Validation Error");
    // Nothing was created, and cleanup after the refused present sends nothing at all.
    const before = server.requests.length;
    await solver.cleanup(challenge, ctx);
    expect(server.requests.length).toBe(before);
  });

  it("a bad token is a typed error with Cloudflare's message, and the token never appears in it", async () => {
    const server = await startApi();
    const solver = new CloudflareDnsSolver({ apiToken: "wrong-token", apiBaseUrl: server.url, propagation: false });
    const { challenge, ctx } = challengeFor("www.example.test");
    const err = await solver.present(challenge, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudflareApiError);
    expect((err as CloudflareApiError).status).toBe(403);
    expect((err as CloudflareApiError).errors).toEqual([{ code: 9109, message: "Invalid access token" }]);
    expect((err as Error).message).not.toContain("wrong-token");

    const malformed = new CloudflareDnsSolver({ apiToken: "has spaces", apiBaseUrl: server.url, propagation: false });
    const err2 = await malformed.present(challenge, ctx).catch((e: unknown) => e);
    // Cloudflare nests the cause: 6003 "Invalid request headers" → 6111.
    expect((err2 as CloudflareApiError).errors.map((e) => e.code)).toEqual([6003, 6111]);
  });

  it("a name in no zone the token can see is a typed error that says what to check", async () => {
    const server = await startApi({ tokens: [{ token: TOKEN, zones: ["sub.example.test"] }] });
    const solver = solverFor(server);
    const { challenge, ctx } = challengeFor("www.example.test");
    const err = await solver.present(challenge, ctx).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "challenge_failed" });
    expect((err as Error).message).toMatch(/no Cloudflare zone .* www\.example\.test .*Zone → Zone → Read/);
  });

  it("pages through zones and records: adopts an identical leftover record found on a later page", async () => {
    // Pages of 2: the leftover sits behind 5 unrelated records at the same name.
    const server = await startApi({ maxPerPage: 2 });
    const { challenge, ctx, keyAuthorization } = challengeFor("paged.example.test");
    const name = "_acme-challenge.paged.example.test";
    const value = await dns01TxtValue(keyAuthorization);
    for (let i = 0; i < 5; i++) await server.addRecord("example.test", { name, type: "TXT", content: `other-${i}` });
    // A record with this challenge's value, left by an earlier attempt whose answer was lost.
    const leftover = await server.addRecord("example.test", { name, type: "TXT", content: value });

    const solver = solverFor(server);
    await solver.present(challenge, ctx);
    // The POST met 81058 "An identical record already exists." and the solver found the record by listing.
    expect(server.requests.some((r) => r.method === "POST" && r.status === 400)).toBe(true);
    await solver.cleanup(challenge, ctx);
    expect(server.requests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([`/zones/${leftover.zone_id}/dns_records/${leftover.id}`]);
    expect(txtAt(server, "example.test", name).map((r) => r.content)).toEqual(["other-0", "other-1", "other-2", "other-3", "other-4"]);
  });

  it("pages through the zone list when a name matches more than one page of zones", async () => {
    // The same name as a pending zone in one account and the active one in another; pages of 1.
    const server = await startApi({ maxPerPage: 1, zones: [{ name: "dup.test", status: "pending" }, { name: "dup.test" }] });
    const solver = solverFor(server);
    const { challenge, ctx } = challengeFor("www.dup.test");
    await solver.present(challenge, ctx);
    const active = server.zones.find((z) => z.status === "active")!;
    expect(server.requests.filter((r) => r.path === "/zones").map((r) => `${r.query.name} p${r.query.page}`)).toEqual([
      "www.dup.test p1",
      "dup.test p1",
      "dup.test p2",
    ]);
    expect(server.requests.some((r) => r.method === "POST" && r.path === `/zones/${active.id}/dns_records`)).toBe(true);
    await solver.cleanup(challenge, ctx);
  });

  it("after a create whose outcome is unknown (5xx on every attempt), cleanup finds the record by its value", async () => {
    const server = await startApi();
    const solver = solverFor(server, { retry: { maxAttempts: 1 } });
    const { challenge, ctx, keyAuthorization } = challengeFor("lost.example.test");
    const name = "_acme-challenge.lost.example.test";
    // Simulate "created, but the answer was a 502": the record exists, the solver never saw its id.
    await server.addRecord("example.test", { name, type: "TXT", content: await dns01TxtValue(keyAuthorization) });
    await server.addRecord("example.test", { name, type: "TXT", content: "unrelated" });
    server.failNext("POST", /dns_records$/, 502, [{ code: 10001, message: "Bad gateway" }]);
    await expect(solver.present(challenge, ctx)).rejects.toMatchObject({ status: 502 });
    await solver.cleanup(challenge, ctx);
    expect(txtAt(server, "example.test", name).map((r) => r.content)).toEqual(["unrelated"]);
  });

  it("treats a record already deleted by someone else as cleaned up", async () => {
    const server = await startApi();
    const solver = solverFor(server);
    const { challenge, ctx } = challengeFor("gone.example.test");
    await solver.present(challenge, ctx);
    server.failNext("DELETE", /dns_records\//, 404, [{ code: 81044, message: "Record does not exist." }]);
    await expect(solver.cleanup(challenge, ctx)).resolves.toBeUndefined();
  });

  it("honours the caller's AbortSignal during a rate-limit wait", async () => {
    const server = await startApi();
    const solver = solverFor(server);
    server.rateLimit(1, 30);
    const controller = new AbortController();
    const { challenge, ctx } = challengeFor("abort.example.test");
    const presenting = solver.present(challenge, { ...ctx, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(presenting).rejects.toMatchObject({ code: "aborted" });
    expect(server.records("example.test")).toEqual([]);
  });
});
