import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DurableObjectStorage } from "../../src/storage/durable-object-storage.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { ADMIN_TOKEN, dashboardSignIn, settled, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 12's reproduced cases (auth, validation, configuration, revoke of an unissued entry) and issue 11
// defect 8 (the index hides failing renewals), each against the Worker in workerd with Pebble as the CA.
let pebble: PebbleInstance;
let worker: WorkerInstance;
/** While set, Pebble's newOrder answers 429 rateLimited with this Retry-After (seconds), RFC 8555 §6.6. */
let rateLimitFor: number | undefined;

const KEY = "c2l4dHktZm91ci1ieXRlcy1vZi1rZXktbWF0ZXJpYWwtZm9yLXRlc3RzISE="; // 43 bytes, base64

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, {
    vars: { STORAGE_ENCRYPTION_KEY: KEY },
    outbound: (request) =>
      rateLimitFor !== undefined && request.method === "POST" && new URL(request.url).pathname.endsWith("/order-plz")
        ? new Response(JSON.stringify({ type: "urn:ietf:params:acme:error:rateLimited", detail: "too many new orders (test)", status: 429 }), {
            status: 429,
            headers: { "content-type": "application/problem+json", "retry-after": String(rateLimitFor) },
          })
        : undefined,
  });
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

type Summary = CertificateSummary;

async function code(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function issue(w: WorkerInstance, names: string[]): Promise<Summary> {
  const res = await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names }) });
  expect(res.status).toBe(202);
  const done = await settled(w, ((await res.json()) as Summary).id);
  expect(done.status).toBe("valid");
  return done;
}

describe("Worker admin API: auth", () => {
  it("a blank ADMIN_TOKEN is unset: 503 admin_disabled, and `Bearer  ` does not open it", async () => {
    for (const blank of ["", " ", "\t "]) {
      const w = await startWorker(pebble, { port: 0, vars: { ADMIN_TOKEN: blank } });
      try {
        for (const token of [null, "", " ", blank]) {
          const res = await w.admin("/admin/status", { token });
          expect(res.status, JSON.stringify([blank, token])).toBe(503);
          expect(await code(res)).toBe("admin_disabled");
        }
        // The public http-01 route is not affected.
        expect((await fetch(new URL("/.well-known/acme-challenge/abc", w.url))).status).toBe(404);
      } finally {
        await w.stop();
      }
    }
  });

  it("the Bearer scheme is case-insensitive (RFC 9110 §11.1); a wrong or empty token is 401", async () => {
    const call = (authorization: string) => fetch(new URL("/admin/status", worker.url), { headers: { authorization } });
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) expect((await call(`${scheme} ${ADMIN_TOKEN}`)).status, scheme).toBe(200);
    for (const bad of ["Bearer ", "Bearer  ", `Basic ${ADMIN_TOKEN}`, `Bearer${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}x`, ADMIN_TOKEN]) {
      const res = await call(bad);
      expect(res.status, bad).toBe(401);
      expect(await code(res)).toBe("unauthorized");
    }
  });
});

describe("Worker configuration", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ STORAGE_ENCRYPTION_KEY: "short-key-15chr" }, "STORAGE_ENCRYPTION_KEY"],
    [{ STORAGE_ENCRYPTION_KEY: "an-encryption-secret-of-32-chars!" }, "STORAGE_ENCRYPTION_KEY"],
    [{ STORAGE_ENCRYPTION_KEY: "QUJD" }, "STORAGE_ENCRYPTION_KEY"],
    [{ RENEW_BATCH: "2.5" }, "RENEW_BATCH"],
    [{ RENEW_BATCH: "0" }, "RENEW_BATCH"],
    [{ KEY_TYPE: "ES512" }, "KEY_TYPE"],
    [{ ACME_DIRECTORY_URL: "not a url" }, "ACME_DIRECTORY_URL"],
    [{ STORAGE_ENCRYPTION: "maybe", STORAGE_ENCRYPTION_KEY: KEY }, "STORAGE_ENCRYPTION"],
    [{ STORAGE_ENCRYPTION_KEY_PREVIOUS: KEY }, "STORAGE_ENCRYPTION_KEY"],
    [{ STORAGE_ENCRYPTION: "off" }, "STORAGE_ENCRYPTION_KEY_PREVIOUS"],
    [{ STORAGE_ENCRYPTION_KEY: KEY, STORAGE_ENCRYPTION_READ_CLEAR: "yes" }, "STORAGE_ENCRYPTION_READ_CLEAR"],
    [{ CA_LIMITS: "orders=lots" }, "CA_LIMITS"],
  ];

  // One Worker start per case: on two loaded cores that is more than the default 60 s.
  it("a bad variable: the admin API answers 503 configuration_error naming it, listings still answer, the dashboard shows it (200, was 500), http-01 keeps answering, the cron tick does not throw", { timeout: 300_000 }, async () => {
    for (const [vars, variable] of cases) {
      const w = await startWorker(pebble, { port: 0, vars });
      try {
        const res = await w.admin("/admin/status");
        expect(res.status, JSON.stringify(vars)).toBe(503);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("configuration_error");
        expect(body.error.message.startsWith(`${variable}:`), body.error.message).toBe(true);
        if (variable === "STORAGE_ENCRYPTION_KEY") expect(body.error.message).toContain("openssl rand -base64 32");
        // What needs the configuration refuses with the same error; what only reads the index lists it.
        expect((await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["cfg.example.test"] }) })).status).toBe(503);
        await (await w.index()).upsertMany([{ id: "listed-anyway", names: ["listed.example.test"], dueAt: Date.now() + 86_400_000, status: "failed", failures: 1, updatedAt: Date.now() }]);
        const listed = await w.admin("/admin/certificates?limit=5");
        expect(listed.status).toBe(200);
        expect(((await listed.json()) as { certificates: Array<{ id: string }> }).certificates.map((x) => x.id)).toEqual(["listed-anyway"]);
        // The dashboard (issue 25 defect 9: was 500 "Cannot read properties of undefined (reading 'map')").
        const session = await dashboardSignIn(w);
        const dashboard = await fetch(new URL("/admin/", w.url), { headers: { cookie: session.cookie } });
        const html = await dashboard.text();
        expect(dashboard.status, html.slice(0, 300)).toBe(200);
        expect(/id="config-error"[^>]*>([^<]*)/.exec(html)?.[1], html.slice(0, 2000)).toContain(`Configuration error — ${variable}:`);
        expect(html).toContain("wrangler.toml");
        expect(html).toContain("listed.example.test");
        // A live token is still served: the CA can validate whatever the admin configuration says.
        const strong = new DurableObjectStorage((await w.mf.getDurableObjectNamespace("EDGECERT_STORE")) as never);
        await strong.put("challenges/http-01/someToken_1", "someToken_1.thumbprint");
        const challenge = await fetch(new URL("/.well-known/acme-challenge/someToken_1", w.url));
        expect(challenge.status).toBe(200);
        expect(await challenge.text()).toBe("someToken_1.thumbprint");
        // The cron handler completes (it logs and skips) instead of throwing on every tick.
        await w.cron(Date.now());
        expect(await (await w.index()).lastTick()).toBeUndefined();
      } finally {
        await w.stop();
      }
    }
  });
});

describe("Worker configuration: ADMIN_TOKEN strength (issue 25 defect 14)", () => {
  it("a short, patterned or example admin token is a configuration_error naming the rule; the API and the dashboard open for nobody", async () => {
    const example = /^ADMIN_TOKEN=(.*)$/m.exec(await readFile(new URL("../../.dev.vars.example", import.meta.url), "utf8"))![1]!.trim();
    expect(example.length).toBeGreaterThan(0);
    const weak = [example, "short-token", "a".repeat(48), "ab".repeat(24), "password-" + "0123456789abcdef".repeat(2), "0123456789abcdef 0123456789abcdef"];
    for (const token of weak) {
      const w = await startWorker(pebble, { port: 0, vars: { ADMIN_TOKEN: token } });
      try {
        // Even presenting the configured token itself opens nothing.
        const res = await w.admin("/admin/status", { token });
        expect(res.status, token).toBe(503);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("configuration_error");
        expect(body.error.message).toMatch(/^ADMIN_TOKEN: must be at least 32 characters of random data/);
        expect(body.error.message).toContain("openssl rand -hex 32");
        expect((await w.admin("/admin/certificates", { token })).status).toBe(503);
        const login = await fetch(new URL("/admin/login", w.url));
        expect(login.status).toBe(200);
        expect(await login.text()).toContain("Sign-in is closed: ADMIN_TOKEN: must be at least 32 characters");
        const signIn = await fetch(new URL("/admin/login", w.url), {
          method: "POST",
          redirect: "manual",
          headers: { "content-type": "application/x-www-form-urlencoded", origin: w.url.origin },
          body: new URLSearchParams({ token }).toString(),
        });
        expect(signIn.status).toBe(403);
        expect(signIn.headers.get("set-cookie")).toBeNull();
      } finally {
        await w.stop();
      }
    }
    // openssl rand -hex 32 and -base64 32 pass.
    const strong = [Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join(""), Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")];
    for (const token of strong) {
      const w = await startWorker(pebble, { port: 0, vars: { ADMIN_TOKEN: token } });
      try {
        expect((await w.admin("/admin/status", { token })).status, token).toBe(200);
      } finally {
        await w.stop();
      }
    }
  });
});

describe("Worker admin API: no 5xx for client input", () => {
  it("strict query validation: limit=2.5, unknown parameters, a bad include → 400 (was 500 SQLITE_MISMATCH)", async () => {
    for (const query of ["limit=2.5", "limit=0", "limit=201", "limit=abc", "limit=1e2", "limit=", "limit=5&limit=6", "nope=1", "cursor=../../x"]) {
      const res = await worker.admin(`/admin/certificates?${query}`);
      expect(res.status, query).toBe(400);
      expect(["invalid_parameter", "unknown_parameter"]).toContain(await code(res));
    }
    expect((await worker.admin("/admin/certificates?limit=200")).status).toBe(200);
    const seeded = await worker.index();
    await seeded.upsertMany([{ id: "unissued-AAAA", names: ["unissued.example.test"], dueAt: Date.now() + 86_400_000, status: "pending", failures: 0, updatedAt: Date.now() }]);
    expect((await worker.admin("/admin/certificates/unissued-AAAA?include=publicKey")).status).toBe(400);
    expect((await worker.admin("/admin/status?x=1")).status).toBe(400);
  });

  it("revoking an entry that has no certificate yet is 409 not_issued (was 500), and the entry stays", async () => {
    const index = await worker.index();
    await index.upsertMany([{ id: "unissued-BBBB", names: ["unissued2.example.test"], dueAt: Date.now() + 86_400_000, status: "failed", failures: 3, updatedAt: Date.now() }]);
    const res = await worker.admin("/admin/certificates/unissued-BBBB/revoke", { method: "POST", body: "{}" });
    expect(res.status).toBe(409);
    expect(await code(res)).toBe("not_issued");
    expect((await worker.admin("/admin/certificates/unissued-BBBB")).status).toBe(200);
    // Deleting it is what the operator can do instead.
    expect((await worker.admin("/admin/certificates/unissued-BBBB", { method: "DELETE" })).status).toBe(200);
    expect((await worker.admin("/admin/certificates/unissued-BBBB")).status).toBe(404);
  });

  it("a renewal the CA refuses is 502 ca_error (was 500), and the index shows it failing with the CA's Retry-After; the next tick waits for it (issue 11 defect 8)", async () => {
    const issued = await issue(worker, ["failing.example.test"]);
    rateLimitFor = 7_200;
    try {
      const renewed = await worker.admin(`/admin/certificates/${issued.id}/renew`, { method: "POST" });
      expect(renewed.status).toBe(502);
      expect(await code(renewed)).toBe("ca_error");
      const afterRenew = (await (await worker.admin(`/admin/certificates/${issued.id}`)).json()) as Summary;
      expect(afterRenew.status).toBe("failing");
      expect(afterRenew.failures).toBe(1);
      expect(afterRenew.lastError).toMatch(/too many new orders/);
      // Not before the CA's Retry-After (2 h), whatever the backoff would say (about a minute).
      expect(Date.parse(afterRenew.nextAttemptAt!)).toBeGreaterThanOrEqual(Date.now() + 7_100_000);
      expect(Date.parse(afterRenew.nextWorkAt)).toBeGreaterThanOrEqual(Date.parse(afterRenew.nextAttemptAt!));

      // A cron tick at its renewal time, still inside the Retry-After window: it is not dispatched.
      const index = await worker.index();
      const dueAt = Date.parse(issued.nextWorkAt) + 1_000;
      const inside = Math.min(Date.parse(afterRenew.nextAttemptAt!) - 60_000, Math.max(dueAt, Date.now() + 3_600_000));
      await worker.cron(inside);
      const tick = await index.lastTick();
      expect(tick?.dispatched ?? 0).toBe(0);
      const still = (await (await worker.admin(`/admin/certificates/${issued.id}`)).json()) as Summary;
      expect(still.status).toBe("failing");
      expect(still.failures).toBe(1);
    } finally {
      rateLimitFor = undefined;
    }
    // Once the CA accepts again, the tick after nextAttemptAt renews it and it is valid again.
    const failing = (await (await worker.admin(`/admin/certificates/${issued.id}`)).json()) as Summary;
    await worker.cron(Date.parse(failing.nextWorkAt) + 1_000);
    const healed = (await (await worker.admin(`/admin/certificates/${issued.id}`)).json()) as Summary;
    expect(healed.status).toBe("valid");
    expect(healed.failures).toBe(0);
    expect(healed.nextAttemptAt).toBeNull();
  });
});
