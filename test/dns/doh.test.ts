import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logger.ts";
import type { AcmeChallenge } from "../../src/acme/types.ts";
import type { ChallengeContext } from "../../src/acme/solver.ts";
import { dns01TxtValue } from "../../src/acme/challenge-helpers.ts";
import {
  DNS_TYPE_TXT,
  challtestsrvDns01Solver,
  encodeDnsQuery,
  parseDnsResponse,
  queryTxt,
  waitForTxt,
} from "../../src/dns/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

let pebble: PebbleInstance;
let doh: DohServer;
let doh2: DohServer;

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
  doh2 = await startDohServer(pebble.dnsPort);
});
afterAll(async () => {
  await doh?.close();
  await doh2?.close();
  await pebble?.stop();
});
beforeEach(() => {
  for (const server of [doh, doh2]) {
    server.requests.length = 0;
    server.lag = 0;
    server.failures = 0;
  }
});

/** Fast polling for tests: the local resolvers answer in milliseconds. */
const fast = { initialDelayMs: 10, maxDelayMs: 50, timeoutMs: 5_000 } as const;

describe("DoH lookups through the local endpoint (challtestsrv behind it)", () => {
  it.each(["wire", "json"] as const)("reads every TXT value challtestsrv serves (%s format)", async (format) => {
    const name = `_acme-challenge.lookup-${format}.example.test`;
    await pebble.setTxt(name, "first-value");
    await pebble.setTxt(name, "second-value");
    const lookup = await queryTxt(doh.url, name, { format });
    expect(lookup.rcode).toBe(0);
    expect(lookup.values.sort()).toEqual(["first-value", "second-value"]);
    const request = doh.requests.at(-1)!;
    expect(request.format).toBe(format);
    if (format === "wire") {
      // RFC 8484 §4.1: GET, base64url without padding, accept application/dns-message.
      expect(request.method).toBe("GET");
      expect(new URL(request.url).searchParams.get("dns")).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(request.accept).toBe("application/dns-message");
    } else {
      expect(request.accept).toBe("application/dns-json");
    }
  });

  it("the endpoint also answers RFC 8484 POST, with the same bytes a GET gets", async () => {
    const name = "_acme-challenge.post.example.test";
    await pebble.setTxt(name, "posted");
    const res = await fetch(doh.url, {
      method: "POST",
      headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
      body: encodeDnsQuery(name, DNS_TYPE_TXT),
    });
    expect(res.headers.get("content-type")).toBe("application/dns-message");
    const response = parseDnsResponse(new Uint8Array(await res.arrayBuffer()));
    expect(response.answers.map((a) => a.text)).toEqual(["posted"]);
  });

  it("a name with no TXT records yields no values, not an error", async () => {
    const lookup = await queryTxt(doh.url, "_acme-challenge.nothing-here.example.test");
    expect(lookup.values).toEqual([]);
  });
});

describe("waitForTxt", () => {
  it.each(["wire", "json"] as const)("returns once every resolver sees every value (%s)", async (format) => {
    const name = `_acme-challenge.agree-${format}.example.test`;
    await pebble.setTxt(name, "value-a");
    await pebble.setTxt(name, "value-b");
    // The second resolver "lags": its first three answers are empty, as if its cache were stale.
    doh2.lag = 3;
    await waitForTxt(name, ["value-a", "value-b"], { ...fast, format, resolvers: [doh.url, doh2.url] });
    const asked = (s: DohServer) => s.requests.filter((r) => r.status === 200).length;
    expect(asked(doh2)).toBe(4);
    // A resolver that has seen everything is not asked again.
    expect(asked(doh)).toBe(1);
  });

  it("retries a resolver that answers 503 for a while", async () => {
    const name = "_acme-challenge.flaky.example.test";
    await pebble.setTxt(name, "eventually");
    doh.failures = 2;
    await waitForTxt(name, ["eventually"], { ...fast, resolvers: [doh.url] });
    expect(doh.requests.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it("times out with a typed error naming the resolver and what is missing", async () => {
    const name = "_acme-challenge.never.example.test";
    await pebble.setTxt(name, "something-else");
    // Ended by the round limit, not a short deadline: a deadline a loaded machine's first query outlasts
    // cut that query short, and the message then said "timed out" instead of what the resolver answered.
    const err = await waitForTxt(name, ["expected"], { ...fast, timeoutMs: 30_000, maxPolls: 2, resolvers: [doh.url] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgecertError);
    expect((err as EdgecertError).code).toBe("timeout");
    expect((err as EdgecertError).message).toContain(doh.url);
    expect((err as EdgecertError).message).toContain("1 of 1 value(s) missing");
  });

  it("keeps the last answer in the timeout message when a later query fails in transport", async () => {
    const name = "_acme-challenge.then-fails.example.test";
    await pebble.setTxt(name, "something-else");
    // The first query reaches the resolver; every later one fails as a refused connection would.
    let calls = 0;
    const fetchThenFail: typeof fetch = async (input, init) => {
      if (calls++ === 0) return await fetch(input, init);
      throw new TypeError("fetch failed");
    };
    const err = await waitForTxt(name, ["expected"], { ...fast, timeoutMs: 30_000, maxPolls: 3, resolvers: [doh.url], fetch: fetchThenFail }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(err).toMatchObject({ code: "timeout" });
    expect((err as EdgecertError).message).toContain("1 of 1 value(s) missing; answer NOERROR with 1 TXT value(s); then");
  });

  it("stops at once when the caller aborts", async () => {
    const controller = new AbortController();
    const waiting = waitForTxt("_acme-challenge.aborted.example.test", ["x"], { ...fast, timeoutMs: 60_000, resolvers: [doh.url], signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(waiting).rejects.toMatchObject({ code: "aborted" });
  });

  it("fails fast when a resolver URL is not a DoH endpoint (HTTP 404)", async () => {
    const err = await waitForTxt("_acme-challenge.x.example.test", ["x"], { ...fast, timeoutMs: 60_000, resolvers: [doh.url.replace("/dns-query", "/nope")] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "invalid_input" });
    // Only the bad path counts: a query aborted by the previous test may still reach the server now.
    expect(doh.requests.filter((r) => new URL(r.url).pathname === "/nope").length).toBe(1);
  });
});

describe("challtestsrvDns01Solver", () => {
  const challenge = (id: string): AcmeChallenge => ({ type: "dns-01", url: `https://ca.test/chall/${id}`, status: "pending", token: id });
  const context = (value: string, wildcard: boolean, keyAuthorization: string): ChallengeContext => ({
    identifier: { type: "dns", value },
    wildcard,
    authorization: { url: "https://ca.test/authz", identifier: { type: "dns", value }, status: "pending", challenges: [] },
    keyAuthorization,
    signal: new AbortController().signal,
    logger: silentLogger,
  });

  it("keeps a wildcard's sibling value when its twin is cleaned up, and waits over DoH", async () => {
    const solver = challtestsrvDns01Solver(pebble.challtestsrvUrl, fetch, { propagation: { ...fast, resolvers: [doh.url] } });
    const apex = context("twins.example.test", false, "tokenA.thumb");
    const wild = context("twins.example.test", true, "tokenB.thumb");
    await Promise.all([solver.present(challenge("a"), apex), solver.present(challenge("b"), wild)]);
    await Promise.all([solver.wait!(challenge("a"), apex), solver.wait!(challenge("b"), wild)]);
    const name = "_acme-challenge.twins.example.test";
    const [valueA, valueB] = await Promise.all([dns01TxtValue("tokenA.thumb"), dns01TxtValue("tokenB.thumb")]);
    expect((await queryTxt(doh.url, name)).values.sort()).toEqual([valueA, valueB].sort());

    await solver.cleanup(challenge("a"), apex);
    expect((await queryTxt(doh.url, name)).values).toEqual([valueB]);
    await solver.cleanup(challenge("b"), wild);
    expect((await queryTxt(doh.url, name)).values).toEqual([]);
  });
});
