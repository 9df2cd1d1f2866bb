import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../workers/admin-body.ts";
import { seededRandom } from "../support/seeded-random.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { ADMIN_TOKEN, settled, startWorker, type WorkerInstance } from "../support/worker.ts";

// Seeded fuzzing of the Worker in workerd (issue 12): no 5xx for any client input, no 2xx without the
// token, no private key without ?include=privateKey. Replay: EDGECERT_WORKER_FUZZ_SEED=<seed>;
// EDGECERT_WORKER_FUZZ_REQUESTS=<n> to search longer.
const SEED = Number(process.env.EDGECERT_WORKER_FUZZ_SEED ?? 20261202);
const REQUESTS = Number(process.env.EDGECERT_WORKER_FUZZ_REQUESTS ?? 2_000);

let pebble: PebbleInstance;
let worker: WorkerInstance;
let issuedId: string;
let webhookId: string;
/** Deploy tokens: one for the issued certificate, one for a pattern, and one the fuzz may revoke. */
let deploy: { scoped: { id: string; token: string }; pattern: { id: string; token: string }; decoy: { id: string; token: string } };

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { WEBHOOK_ALLOW_PRIVATE_URLS: "true", ALLOWED_NAMES: "*.fuzz.test", STORAGE_ENCRYPTION_KEY: "ZnV6ei1rZXktd2l0aC1tb3JlLXRoYW4tMjU2LWJpdHMtb2YtZW50cm9weQ==" } });
  const res = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: ["issued.fuzz.test"] }) });
  issuedId = ((await res.json()) as { id: string }).id;
  expect((await settled(worker, issuedId)).status).toBe("valid");
  // A webhook endpoint that refuses connections (port 9): its routes are fuzzed with a real id.
  const hook = await worker.admin("/admin/webhooks", { method: "POST", body: JSON.stringify({ url: "http://127.0.0.1:9/hook" }) });
  webhookId = ((await hook.json()) as { id: string }).id;
  const token = async (scope: unknown) => (await (await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify({ scope }) })).json()) as { id: string; token: string };
  deploy = { scoped: await token({ certificate: issuedId }), pattern: await token({ pattern: "*.fuzz.test" }), decoy: await token({ pattern: "decoy.fuzz.test" }) };
  const now = Date.now();
  // Entries with no certificate: revoke, renew and delete on them are exercised too.
  await (await worker.index()).upsertMany(
    Array.from({ length: 20 }, (_, i) => ({ id: `unissued-${i}`, names: [`u${i}.fuzz.test`], dueAt: now + 86_400_000, status: "failed", failures: 1, updatedAt: now })),
  );
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/**
 * One request over a connection of its own. The Worker may answer 413 and close while a huge body is
 * still being sent: the answer counts once its status line arrived; a request that gets no answer at
 * all is reported as the harness failure it is (status 0), never as a pass.
 */
function send(method: string, path: string, headers: Record<string, string>, body: Uint8Array | undefined): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    let answered = false;
    const req = httpRequest({ host: worker.url.hostname, port: worker.url.port, method, path, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - started }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - started }));
    });
    req.setTimeout(60_000, () => req.destroy(new Error("timeout")));
    req.on("error", (err) => {
      if (!answered) resolve({ status: 0, body: String(err), ms: performance.now() - started });
    });
    if (body) req.end(body);
    else req.end();
  });
}

describe("Worker admin API fuzz (seeded)", () => {
  it(`${REQUESTS} seeded requests over /admin/*, the hub's token routes and pull API, and /.well-known/*: no 5xx, no 2xx without the token, no key without ?include=privateKey or a deploy token`, async () => {
    const random = seededRandom(SEED);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const ids = () => pick([issuedId, issuedId, issuedId, "unissued-" + Math.floor(random() * 20), "unissued-" + Math.floor(random() * 20), "nope", "..", "%2e%2e", "..%2F..%2Fnames", "a".repeat(300), "%ZZ", "%00", "%E0%A4%A", "x%20y", "<script>", issuedId + "%2Fx"]);
    const whIds = () => pick([webhookId, webhookId, "wh_nothingthere", "wh_" + "a".repeat(12), "..", "%2e%2e", "%ZZ", "a".repeat(300), "deliveries", webhookId + "%2Fx"]);
    const tokIds = () => pick([deploy.decoy.id, deploy.decoy.id, "AAAAAAAAAAAA", "..%2Fx", "..", "%2e%2e", "a".repeat(600), "%ZZ", "%00", "x".repeat(13), deploy.decoy.id + "%2Fx", "tokens"]);
    // Pull names: the issued one, others in and out of the patterns, and garbage.
    const pullNames = () => pick(["issued.fuzz.test", "issued.fuzz.test", "issued.fuzz.test", "issued.fuzz.test", "ISSUED.fuzz.test", "u1.fuzz.test", "nothing.fuzz.test", "evil.example", "*.fuzz.test", "%2A.fuzz.test", "..", "%2e%2e", "..%2F..%2Fadmin", "a".repeat(600), "%ZZ", "%00", "x%20y", "127.0.0.1", "[::1]"]);
    const queries = () =>
      pick(["", "", "?limit=2.5", "?limit=-1", "?limit=200", "?limit=99999999999999999999", "?limit=1&cursor=" + ids(), "?include=privateKey", "?include=privatekey", "?include=privateKey&include=privateKey", "?x=1", "?%ZZ=1", "?cursor=%00", "?limit=1e3", "?q=issued", "?q=%25", "?q=a_b", "?q=" + "x".repeat(101), "?state=failed", "?state=valid&q=fuzz&limit=3", "?state=bogus", "?cursor=1.2", "?cursor=1", "?state=revoked", "?state=disabled"]);
    // Routes with the methods they take (most requests), and anything else (the rest).
    const routes: Array<[string, () => string]> = [
      ["GET", () => `/admin/status${queries()}`],
      ["GET", () => `/admin/certificates${queries()}`],
      ["POST", () => `/admin/certificates${queries()}`],
      ["GET", () => `/admin/certificates/${ids()}${queries()}`],
      ["DELETE", () => `/admin/certificates/${ids()}${queries()}`],
      ["GET", () => `/admin/certificates/${ids()}/dns-persist`],
      ["POST", () => `/admin/certificates/${ids()}/revoke${queries()}`],
      ["POST", () => `/admin/certificates/${ids()}/renew${queries()}`],
      ["POST", () => `/admin/storage/reseal${queries()}`],
      ["GET", () => `/admin/webhooks${queries()}`],
      ["POST", () => `/admin/webhooks${queries()}`],
      ["GET", () => `/admin/webhooks/${whIds()}${queries()}`],
      ["DELETE", () => `/admin/webhooks/${whIds()}${queries()}`],
      ["POST", () => `/admin/webhooks/${whIds()}/${pick(["test", "enable", "rotate-secret"])}${queries()}`],
      ["POST", () => `/admin/webhooks/${whIds()}/deliveries/${pick(["msg_" + "A".repeat(22), "msg_x", "..", "%ZZ", "a".repeat(300)])}/retry${queries()}`],
      ["GET", () => `/admin/webhooks/${pick([whIds(), "deliveries"])}${pick(["/deliveries", ""])}${queries()}`],
      ["POST", () => `/admin/tokens${queries()}`],
      ["GET", () => `/admin/tokens${queries()}`],
      ["DELETE", () => `/admin/tokens/${tokIds()}${queries()}`],
      ["GET", () => `/admin/tokens/${tokIds()}`],
      ["GET", () => `/v1/certificates/${pullNames()}${queries()}`],
      ["GET", () => `/v1/certificates/${pullNames()}`],
      ["GET", () => `/v1/certificates/${pullNames()}`],
      ["GET", () => `/v1/certificates/${pick(["", "/", "a/b", "issued.fuzz.test/x"])}`],
      ["GET", () => `/admin/webhooks/deliveries${queries()}`],
      // The dashboard's pages and actions (a bearer token opens none of them: they take the session cookie).
      ["GET", () => `/admin/ui/certificates/${ids()}/${pick(["revoke", "delete"])}${queries()}`],
      ["POST", () => `/admin/ui/certificates/${ids()}/${pick(["revoke", "delete", "renew"])}`],
      ["POST", () => `/admin/ui/${pick(["certificates", "tokens/x/revoke", "webhooks/" + whIds() + "/test"])}`],
      ["POST", () => pick([`/admin/login`, `/admin/logout`])],
      ["GET", () => `/admin/../admin/status`],
      ["GET", () => `/admin/%2e%2e/status`],
      ["GET", () => `/admin/certificates/../../.well-known/acme-challenge/x`],
      ["GET", () => pick([`/admin`, `/admin/`, `/admin//certificates`, `/ADMIN/status`])],
      ["GET", () => `/.well-known/acme-challenge/${pick(["", "abc", "..%2F..%2Fadmin", "a".repeat(300), "%ZZ", "tok_-en", "x/y", "%00"])}`],
      ["GET", () => `/.well-known/../admin/certificates`],
      ["GET", () => `/${pick(["", "favicon.ico", "%", "admin%2Fstatus"])}`],
    ];
    const request = (): [string, string] => {
      const [method, path] = pick(routes);
      return [random() < 0.8 ? method : pick(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]), path()];
    };
    const tokens: Array<[string | undefined, boolean]> = [
      [`Bearer ${ADMIN_TOKEN}`, true],
      [`bearer ${ADMIN_TOKEN}`, true],
      [`Bearer ${ADMIN_TOKEN}`, true],
      [`BEARER   ${ADMIN_TOKEN}`, true],
      [`Bearer ${ADMIN_TOKEN}`, true],
      [`Bearer ${ADMIN_TOKEN}`, true],
      [undefined, false],
      ["Bearer ", false],
      ["Bearer  ", false],
      [`Bearer ${ADMIN_TOKEN.slice(0, -1)}`, false],
      [`Basic ${ADMIN_TOKEN}`, false],
      [`Bearer ${ADMIN_TOKEN} extra`, false],
      ["Bearer " + "x".repeat(5000), false],
    ];
    // On the pull API: deploy tokens, any case of the scheme, and what is not one (the admin token among them).
    const deployAuth = (): [string | undefined, boolean] =>
      pick<[string | undefined, boolean]>([
        [`Bearer ${deploy.scoped.token}`, true],
        [`bearer ${deploy.pattern.token}`, true],
        [`BEARER ${deploy.scoped.token}`, true],
        [`Bearer ${deploy.pattern.token}`, true],
        [`Bearer ${deploy.decoy.token}`, true],
        [`Bearer ${ADMIN_TOKEN}`, false],
        [`Bearer ${deploy.scoped.token.slice(0, -1)}`, false],
        [`Basic ${deploy.scoped.token}`, false],
        [undefined, false],
        ["Bearer edt_" + "A".repeat(12) + "_" + "B".repeat(43), false],
        ["Bearer " + "x".repeat(5000), false],
      ]);
    const jsonBodies = () =>
      pick([
        "",
        "{}",
        "{",
        "null",
        "[]",
        '"x"',
        "1",
        JSON.stringify({ names: [pick(["a.fuzz.test", "b.fuzz.test", "evil.example", "*.fuzz.test", "x..fuzz.test", "", "a".repeat(300) + ".fuzz.test", "127.0.0.1", "ünï.fuzz.test"])] }),
        JSON.stringify({ names: "a.fuzz.test" }),
        JSON.stringify({ names: ["a.fuzz.test"], extra: true }),
        JSON.stringify({ names: ["a.fuzz.test"], profile: pick(["shortlived", "no spaces", 5, null, "x".repeat(100)]) }),
        JSON.stringify({ reason: pick([0, 1, 4, 7, 99, -1, 2.5, "1", null]) }),
        JSON.stringify({ url: pick(["http://127.0.0.1:9/x", "javascript:alert(1)", "https://u:p@x.test/", "", 5, null, "http://" + "a".repeat(3000)]), ...(random() < 0.5 ? { events: pick([[], ["certificate.renewed"], ["x"], "certificate.renewed", [1]]) } : {}) }),
        JSON.stringify({ scope: pick([{ certificate: issuedId }, { pattern: "*.fuzz.test" }, { pattern: "bad name" }, { certificate: "../x" }, { certificate: "a".repeat(600) }, {}, null, "x", { pattern: "*.fuzz.test", certificate: issuedId }]), ...(random() < 0.3 ? { label: pick(["web-1", 5, "x".repeat(300)]) } : {}), ...(random() < 0.3 ? { expiresAt: pick(["2099-01-01T00:00:00Z", "tomorrow", 1, null]) } : {}), ...(random() < 0.2 ? { agentPublicKey: pick(["nope", 1, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]) } : {}) }),
        JSON.stringify({ __proto__: { admin: true }, names: ["a.fuzz.test"] }),
        '{"constructor":{"prototype":{"x":1}}}',
        "[".repeat(5000) + "]".repeat(5000),
        JSON.stringify({ names: Array.from({ length: 150 }, (_, i) => `n${i}.fuzz.test`) }),
      ]);
    const bodies = (): Uint8Array | undefined => {
      const r = random();
      if (r < 0.3) return undefined;
      if (r < 0.7) return new TextEncoder().encode(jsonBodies());
      if (r < 0.78) return new Uint8Array([0xff, 0xfe, 0x7b, 0x80, 0x00]);
      // Huge: just over the limit, or far over it (up to 2 MB).
      return new Uint8Array(pick([16 * 1024 + 1, 64 * 1024, 512 * 1024, 2 * 1024 * 1024])).fill(0x20);
    };

    let fivexx = 0;
    let noAnswer = 0;
    let resets = 0;
    let slowest = { ms: 0, what: "" };
    const statuses: Record<number, number> = {};
    const problems: string[] = [];
    let renewsOfIssued = 0;
    const pullStatuses: Record<number, number> = {};
    for (let n = 0; n < REQUESTS; n++) {
      const [method, first] = request();
      let path = first;
      const isPull = new URL(path, "http://x").pathname.startsWith("/v1/");
      const [authorization, valid] = isPull ? deployAuth() : pick(tokens);
      // Revoking the deploy tokens the pulls use would leave nothing but 401s: the decoy goes instead.
      if (valid && method === "DELETE") path = path.replace(deploy.scoped.id, deploy.decoy.id).replace(deploy.pattern.id, deploy.decoy.id);
      // Mutations of the issued certificate with the token would revoke / delete / re-issue the one record
      // the key check needs: those go to an unissued entry instead.
      if (valid && path.includes(issuedId) && method !== "GET" && method !== "HEAD") {
        if (path.endsWith("/renew") && method === "POST" && renewsOfIssued < 2) renewsOfIssued++;
        else path = path.replace(issuedId, "unissued-0");
      }
      const body = method === "GET" || method === "HEAD" ? undefined : bodies();
      const headers: Record<string, string> = {};
      if (authorization !== undefined) headers.authorization = authorization;
      if (body !== undefined) headers["content-type"] = pick(["application/json", "text/plain", "application/x-www-form-urlencoded"]);
      // Sometimes a content-length that lies (smaller than the body is not sendable; say nothing instead: chunked).
      if (body !== undefined && random() < 0.3) headers["transfer-encoding"] = "chunked";
      else if (body !== undefined) headers["content-length"] = String(body.byteLength);
      let answer = await send(method, path, headers, body);
      // Over the size limit, the Worker may answer before reading the body and close; TCP then resets
      // the connection while the client is still sending, which can discard the answer before it is
      // read. That is the transport, not the Worker: the same request is sent once more, and a second
      // request with no answer is reported.
      if (answer.status === 0 && body !== undefined && body.byteLength > MAX_BODY_BYTES) {
        resets++;
        answer = await send(method, path, headers, body);
      }
      const what = `#${n} ${method} ${path.slice(0, 120)} auth=${authorization?.slice(0, 20) ?? "none"} body=${body?.byteLength ?? 0}B -> ${answer.status}`;
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.ms > slowest.ms) slowest = { ms: answer.ms, what };
      if (answer.status === 0) {
        noAnswer++;
        problems.push(`${what} (no answer: ${answer.body})`);
      }
      if (answer.status >= 500) {
        fivexx++;
        problems.push(`${what} ${answer.body.slice(0, 200)}`);
      }
      // The sign-in page is the one public page under /admin.
      const isAdmin = new URL(path, "http://x").pathname.startsWith("/admin") && !((method === "GET" || method === "HEAD") && new URL(path, "http://x").pathname === "/admin/login");
      if (isAdmin && !valid && answer.status >= 200 && answer.status < 300) problems.push(`${what}: 2xx without a valid token`);
      // Unknown query parameters are refused on the hub's routes, never ignored.
      const hubRoute = /^\/(?:admin\/tokens|v1\/)/.test(new URL(path, "http://x").pathname);
      if (hubRoute && valid && /[?&](?:x|%ZZ)=/.test(path) && answer.status < 400) problems.push(`${what}: an unknown query parameter accepted`);
      if (isPull && !valid && answer.status >= 200 && answer.status < 300) problems.push(`${what}: a pull answered without a deploy token`);
      if (isPull) pullStatuses[answer.status] = (pullStatuses[answer.status] ?? 0) + 1;
      if (answer.body.includes("PRIVATE KEY") && !(valid && (path.includes("include=privateKey") || isPull))) problems.push(`${what}: a private key without ?include=privateKey or a deploy token`);
      // A deploy token is shown once, in the answer that creates it; its hash never.
      if ((answer.body.includes("edt_") && !(answer.status === 201 && method === "POST")) || answer.body.includes('"hash"')) problems.push(`${what}: a deploy token or its hash shown`);
      // A webhook secret is shown once, in the answer that creates (201) or rotates (200) it, and nowhere else.
      const showsSecret = answer.status === 201 || (answer.status === 200 && new URL(path, "http://x").pathname.endsWith("/rotate-secret"));
      if (answer.body.includes("whsec_") && !showsSecret) problems.push(`${what}: a webhook secret outside its creation or rotation`);
    }
    console.log(
      `worker fuzz: seed ${SEED} (EDGECERT_WORKER_FUZZ_SEED), ${REQUESTS} requests (pulls ${JSON.stringify(pullStatuses)}), ${fivexx} 5xx, ${noAnswer} unanswered (${resets} oversized sent again after a reset), ` +
        `slowest ${slowest.ms.toFixed(0)} ms (${slowest.what}); statuses ${JSON.stringify(statuses)}`,
    );
    expect(problems.slice(0, 20)).toEqual([]);
    // Pulls were answered, so the pull API's checks above were not vacuous.
    expect(pullStatuses[200]).toBeGreaterThan(0);
    // The key is there with the flag: the check above is not vacuous.
    const withKey = await worker.admin(`/admin/certificates/${issuedId}?include=privateKey`);
    expect(await withKey.text()).toContain("PRIVATE KEY");
  });
});
