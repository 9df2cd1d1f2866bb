import { Resolver } from "node:dns/promises";
import { describe, it, expect, afterAll } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { serveHttp01 } from "../support/challenge-servers.ts";
import { countingFetch } from "../support/request-counter.ts";

/** Throws if `pid` is not a running process. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Directory {
  newNonce?: string;
  newAccount?: string;
  newOrder?: string;
  meta?: { externalAccountRequired?: boolean };
}

describe("pebble test bed", () => {
  const started: PebbleInstance[] = [];
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
  });

  it("starts pebble, serves the directory, nonces, DNS TXT, roots and stops cleanly", async () => {
    const t0 = Date.now();
    const pebble = await startPebble();
    started.push(pebble);
    const startupMs = Date.now() - t0;
    expect(startupMs).toBeLessThan(15_000);

    expect(pebble.directoryUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/dir$/);
    const counter = countingFetch(pebble.fetch);
    const dirResponse = await counter.fetch(pebble.directoryUrl);
    expect(dirResponse.status).toBe(200);
    const dir = (await dirResponse.json()) as Directory;
    expect(dir.newNonce).toMatch(/^https:\/\/127\.0\.0\.1:/);
    expect(dir.newAccount).toBeTypeOf("string");
    expect(dir.newOrder).toBeTypeOf("string");

    const nonceResponse = await counter.fetch(dir.newNonce!, { method: "HEAD" });
    expect(nonceResponse.ok).toBe(true);
    expect(nonceResponse.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(counter.count()).toBe(2);
    expect(counter.requests.map((r) => [r.method, r.status])).toEqual([
      ["GET", 200],
      ["HEAD", 200],
    ]);
    // A global Request object also works through the trusting fetch.
    const viaRequest = await counter.fetch(new Request(dir.newNonce!, { method: "HEAD" }));
    expect(viaRequest.headers.get("replay-nonce")).toBeTruthy();
    expect(counter.requests[2]?.method).toBe("HEAD");
    counter.reset();
    expect(counter.count()).toBe(0);

    // DNS via challtestsrv.
    await pebble.setTxt("_acme-challenge.example.com", "txt-value-123");
    const resolver = new Resolver({ timeout: 2_000, tries: 2 });
    resolver.setServers([`127.0.0.1:${pebble.dnsPort}`]);
    const records = await resolver.resolveTxt("_acme-challenge.example.com");
    expect(records.map((chunks) => chunks.join(""))).toContain("txt-value-123");
    await pebble.clearTxt("_acme-challenge.example.com.");
    const afterClear = await resolver.resolveTxt("_acme-challenge.example.com").catch(() => []);
    expect(afterClear.map((chunks) => chunks.join(""))).not.toContain("txt-value-123");

    // Issuance roots (not the listen CA).
    const roots = await pebble.rootsPem();
    expect(roots).toHaveLength(1);
    expect(roots[0]).toContain("-----BEGIN CERTIFICATE-----");
    expect(roots[0]).not.toBe(pebble.caPem);

    // stop() kills both children and is idempotent.
    const { pebble: pebblePid, challtestsrv: ctsPid } = pebble.pids;
    expect(isRunning(pebblePid)).toBe(true);
    expect(isRunning(ctsPid)).toBe(true);
    await pebble.stop();
    await pebble.stop();
    expect(() => process.kill(pebblePid, 0)).toThrow();
    expect(() => process.kill(ctsPid, 0)).toThrow();
  });

  it("requires EAB when eab is set, and exposes alternate roots", async () => {
    const pebble = await startPebble({
      eab: { "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" },
      alternateRoots: 1,
      ordersPerPage: 2,
    });
    started.push(pebble);
    const dir = (await (await pebble.fetch(pebble.directoryUrl)).json()) as Directory;
    expect(dir.meta?.externalAccountRequired).toBe(true);
    const roots = await pebble.rootsPem();
    expect(roots).toHaveLength(2);
    expect(roots[0]).not.toBe(roots[1]);
    const pids = Object.values(pebble.pids);
    await pebble.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });

  it("serves http-01 responses and counts hits", async () => {
    const pebble = await startPebble();
    started.push(pebble);
    const responses = new Map([["tok123", "tok123.thumb"]]);
    const server = await serveHttp01(pebble.httpPort, responses);
    try {
      const ok = await fetch(`http://127.0.0.1:${pebble.httpPort}/.well-known/acme-challenge/tok123`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("tok123.thumb");
      const missing = await fetch(`http://127.0.0.1:${pebble.httpPort}/.well-known/acme-challenge/nope`);
      expect(missing.status).toBe(404);
      await missing.text();
      expect(server.hits).toBe(2);
    } finally {
      await server.close();
      await pebble.stop();
    }
  });

  it("fails fast with child output when pebble cannot start", async () => {
    // An invalid EAB key makes pebble exit during startup.
    await expect(startPebble({ eab: { "kid-1": "!!!not base64url!!!" } })).rejects.toThrow(/pebble/);
  });
});
