import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { dashboardSignIn, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Every admin listing a page at a time with a cursor, searchable by name and filterable by state, in
// the API and the dashboard (issue 26; issue 25 defect 10 "nothing says how the page behaves at 10,000
// certificates": the dashboard's server time at 10,000 is in `npm run bench`, bench/dashboard.ts).
const CERTIFICATES = 2_500;
let pebble: PebbleInstance;
let worker: WorkerInstance;

const STATUSES = ["valid", "valid", "valid", "failing", "failed", "pending"] as const;
const statusOf = (i: number) => STATUSES[i % STATUSES.length]!;

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { WEBHOOK_ALLOW_PRIVATE_URLS: "true" } });
  const now = Date.now();
  const entries = Array.from({ length: CERTIFICATES }, (_, i) => ({
    id: `cert-${String(i).padStart(5, "0")}`,
    names: [`c${i}.list.test`, `www.c${i}.list.test`],
    dueAt: now + 86_400_000 + i,
    status: statusOf(i),
    failures: 0,
    updatedAt: now,
  }));
  const index = await worker.index();
  for (let i = 0; i < entries.length; i += 1_000) await index.upsertMany(entries.slice(i, i + 1_000));
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

async function json<T>(path: string): Promise<T> {
  const res = await worker.admin(path);
  expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
  return (await res.json()) as T;
}

/** Follows the cursor from the first page to the last; returns every row and the number of pages. */
async function walk<T>(path: string, member: string): Promise<{ rows: T[]; pages: number }> {
  const rows: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page: Record<string, unknown> = await json(`${path}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""}`);
    rows.push(...(page[member] as T[]));
    cursor = page.cursor as string | null;
    pages++;
    expect(pages).toBeLessThan(1_000);
  } while (cursor);
  return { rows, pages };
}

describe("admin listings: cursors, search, state", () => {
  it(`certificates: ${CERTIFICATES} walked by cursor, each once in id order; ?q= searches names (LIKE wildcards taken literally); ?state= filters; bad parameters 400`, async () => {
    const all = await walk<CertificateSummary>("/admin/certificates?limit=200", "certificates");
    expect(all.pages).toBe(Math.ceil(CERTIFICATES / 200));
    const ids = all.rows.map((r) => r.id);
    expect(new Set(ids).size).toBe(CERTIFICATES);
    expect(ids).toEqual([...ids].sort());

    expect((await json<{ certificates: CertificateSummary[] }>("/admin/certificates?q=c123.list")).certificates.map((c) => c.id)).toEqual(["cert-00123"]);
    expect((await json<{ certificates: CertificateSummary[] }>("/admin/certificates?q=WWW.C77.LIST.TEST")).certificates.map((c) => c.id)).toEqual(["cert-00077"]);
    // c_23 would match c123, c223, … if `_` were a wildcard.
    expect((await json<{ certificates: CertificateSummary[] }>("/admin/certificates?q=c_23")).certificates).toEqual([]);
    const prefix = await walk<CertificateSummary>("/admin/certificates?q=c99&limit=5", "certificates");
    expect(prefix.rows.map((r) => r.names[0]).sort()).toEqual(["c99.list.test", ...Array.from({ length: 10 }, (_, i) => `c99${i}.list.test`)].sort());

    const failed = await walk<CertificateSummary>("/admin/certificates?state=failed&limit=100", "certificates");
    expect(failed.rows.length).toBe(Array.from({ length: CERTIFICATES }, (_, i) => statusOf(i)).filter((s) => s === "failed").length);
    expect(failed.rows.every((r) => r.status === "failed")).toBe(true);
    const both = await json<{ certificates: CertificateSummary[] }>("/admin/certificates?state=failing&q=c3.list");
    expect(both.certificates.map((c) => c.id)).toEqual(["cert-00003"]);

    for (const query of ["state=expired", "state=", "q=", "q=%25", "q=a'b", "q=" + "a".repeat(101), "q=a&q=b", "cursor=../x", "sort=id", "limit=0"]) {
      const res = await worker.admin(`/admin/certificates?${query}`);
      expect(res.status, query).toBe(400);
    }
  });

  it("deploy tokens, webhooks and deliveries: walked by cursor, searched, filtered by state", async () => {
    const tokens: Array<{ id: string }> = [];
    for (let i = 0; i < 7; i++) {
      const res = await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify({ scope: { pattern: `*.t${i}.list.test` }, label: i === 4 ? "edge-berlin" : `edge-${i}` }) });
      expect(res.status).toBe(201);
      tokens.push((await res.json()) as { id: string });
    }
    for (const t of tokens.slice(0, 2)) expect((await worker.admin(`/admin/tokens/${t.id}`, { method: "DELETE" })).status).toBe(200);
    const walkedTokens = await walk<{ id: string }>("/admin/tokens?limit=3", "tokens");
    expect(walkedTokens.pages).toBe(3);
    expect(walkedTokens.rows.map((t) => t.id).sort()).toEqual(tokens.map((t) => t.id).sort());
    expect((await walk<{ id: string }>("/admin/tokens?state=revoked&limit=1", "tokens")).rows.map((t) => t.id).sort()).toEqual(tokens.slice(0, 2).map((t) => t.id).sort());
    expect((await json<{ tokens: Array<{ id: string }> }>("/admin/tokens?state=active")).tokens).toHaveLength(5);
    expect((await json<{ tokens: Array<{ label: string }> }>("/admin/tokens?q=berlin")).tokens.map((t) => t.label)).toEqual(["edge-berlin"]);
    expect((await json<{ tokens: Array<{ label: string }> }>("/admin/tokens?q=t6.list")).tokens.map((t) => t.label)).toEqual(["edge-6"]);
    for (const query of ["state=gone", "cursor=x", "nope=1"]) expect((await worker.admin(`/admin/tokens?${query}`)).status, query).toBe(400);

    const hooks: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Port 9 (discard) refuses: deliveries stay pending or fail, which is what is listed.
      const res = await worker.admin("/admin/webhooks", { method: "POST", body: JSON.stringify({ url: `http://127.0.0.1:9/hook-${i}`, label: i === 2 ? "alpha" : `hook-${i}` }) });
      expect(res.status).toBe(201);
      hooks.push(((await res.json()) as { id: string }).id);
    }
    const walkedHooks = await walk<{ id: string }>("/admin/webhooks?limit=2", "webhooks");
    expect(walkedHooks.pages).toBe(3);
    expect(walkedHooks.rows.map((w) => w.id)).toEqual(hooks);
    expect((await json<{ webhooks: Array<{ id: string }> }>("/admin/webhooks?q=alpha")).webhooks.map((w) => w.id)).toEqual([hooks[2]]);
    expect((await json<{ webhooks: Array<{ id: string }> }>("/admin/webhooks?q=hook-4")).webhooks.map((w) => w.id)).toEqual([hooks[4]]);
    expect((await json<{ webhooks: unknown[] }>("/admin/webhooks?state=disabled")).webhooks).toEqual([]);
    expect((await json<{ webhooks: unknown[] }>("/admin/webhooks?state=enabled")).webhooks).toHaveLength(5);
    expect((await json<{ webhooks: Array<{ id: string }> }>("/admin/webhooks?state=enabled&q=hook-&limit=2")).webhooks.map((w) => w.id)).toEqual([hooks[0], hooks[1]]);
    for (const query of ["cursor=abc", "cursor=0", "cursor=-1", "state=on", "limit=201"]) expect((await worker.admin(`/admin/webhooks?${query}`)).status, query).toBe(400);

    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push(((await (await worker.admin(`/admin/webhooks/${hooks[0]}/test`, { method: "POST", body: "{}" })).json()) as { messageId: string }).messageId);
    const log = await walk<{ messageId: string }>(`/admin/webhooks/${hooks[0]}/deliveries?limit=2`, "deliveries");
    expect(log.pages).toBe(3);
    expect(log.rows.map((d) => d.messageId)).toEqual([...sent].reverse());
    const everyone = await walk<{ messageId: string }>("/admin/webhooks/deliveries?limit=2&q=webhook.test", "deliveries");
    expect(everyone.rows.map((d) => d.messageId)).toEqual([...sent].reverse());
    expect((await json<{ deliveries: unknown[] }>("/admin/webhooks/deliveries?q=certificate.renewed")).deliveries).toEqual([]);
    // Port 9 refuses: every delivery is still pending (retrying), none delivered.
    const pending = await walk<{ messageId: string; state: string }>("/admin/webhooks/deliveries?state=pending&limit=2", "deliveries");
    expect(pending.rows.map((d) => d.messageId)).toEqual([...sent].reverse());
    expect(pending.rows.every((d) => d.state === "pending")).toBe(true);
    expect((await json<{ deliveries: unknown[] }>("/admin/webhooks/deliveries?state=delivered")).deliveries).toEqual([]);
    for (const query of ["cursor=1", "cursor=1.0", "state=lost", "q=%25"]) expect((await worker.admin(`/admin/webhooks/deliveries?${query}`)).status, query).toBe(400);
  });

  it(`the dashboard: ${CERTIFICATES} certificates shown 50 at a time with a next-page link, searchable and filterable`, async () => {
    const { cookie } = await dashboardSignIn(worker);
    const open = async (path: string) => {
      const res = await fetch(new URL(path, worker.url), { headers: { cookie } });
      expect(res.status).toBe(200);
      const html = await res.text();
      return {
        html,
        ids: [...html.matchAll(/<tr data-id="(cert-\d+)"/g)].map((m) => m[1]!),
        next: /id="next-certificates" href="([^"]+)"/.exec(html)?.[1]?.replace(/&#38;/g, "&"),
      };
    };
    const first = await open("/admin/");
    expect(first.ids).toEqual(Array.from({ length: 50 }, (_, i) => `cert-${String(i).padStart(5, "0")}`));
    expect(first.html).toContain(`Certificates (${CERTIFICATES})`);
    const second = await open(first.next!);
    expect(second.ids).toEqual(Array.from({ length: 50 }, (_, i) => `cert-${String(i + 50).padStart(5, "0")}`));
    expect(second.html).toContain('id="first-certificates"');
    const searched = await open("/admin/?q=c1234.list");
    expect(searched.ids).toEqual(["cert-01234"]);
    expect(searched.next).toBeUndefined();
    const failedPage = await open("/admin/?state=failed");
    expect(failedPage.ids).toHaveLength(50);
    const table = /<table id="certificates">.*?<\/table>/s.exec(failedPage.html)![0];
    expect([...table.matchAll(/<td class="state-([a-z]+)">/g)].map((m) => m[1])).toEqual(new Array(50).fill("failed"));
    const nextFailed = await open(failedPage.next!);
    expect(nextFailed.ids.every((id) => statusOf(Number(id.slice(5))) === "failed")).toBe(true);
    expect(nextFailed.ids[0]! > failedPage.ids.at(-1)!).toBe(true);
    // Tokens, webhooks and deliveries filtered by their own states.
    const revoked = (await (await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify({ scope: { pattern: "*.gone.list.test" }, label: "gone-token" }) })).json()) as { id: string };
    expect((await worker.admin(`/admin/tokens/${revoked.id}`, { method: "DELETE" })).status).toBe(200);
    await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify({ scope: { pattern: "*.kept.list.test" }, label: "kept-token" }) });
    const section = (html: string, id: string) => new RegExp(`<table id="${id}">.*?</table>`, "s").exec(html)![0];
    const tokenTable = section((await open("/admin/?tstate=revoked")).html, "tokens");
    expect(tokenTable).toContain("gone-token");
    expect(tokenTable).not.toContain("kept-token");
    expect([...tokenTable.matchAll(/<td class="state-([a-z]+)">/g)].map((m) => m[1]).every((s) => s === "revoked")).toBe(true);
    const activeTable = section((await open("/admin/?tstate=active&q=token")).html, "tokens");
    expect(activeTable).toContain("kept-token");
    expect(activeTable).not.toContain("gone-token");
    // A bad cursor is the API's 400, shown in the page; the page itself still answers.
    const bad = await open("/admin/?cursor=..%2Fx");
    expect(bad.html).toMatch(/id="error-certificates"[^>]*>Could not list certificates: cursor has an invalid value/);
  });
});

describe("the dashboard's other listings", () => {
  it("tokens, webhooks and deliveries: a next-page link at the page boundary, searched by the name field, filtered by their own states; a bad cursor is the API's 400 on the page", async () => {
    const { cookie } = await dashboardSignIn(worker);
    const open = async (path: string) => {
      const res = await fetch(new URL(path, worker.url), { headers: { cookie } });
      expect(res.status).toBe(200);
      return res.text();
    };
    const rowsOf = (html: string, table: string) => [...(new RegExp(`<table id="${table}">.*?</table>`, "s").exec(html)?.[0] ?? "").matchAll(/<tr(?: data-id="([^"]*)")?><td>(.*?)<\/td>/g)].map((m) => m[1] ?? m[2]!);
    const nextLink = (html: string, id: string) => new RegExp(`id="${id}" href="([^"]+)"`).exec(html)?.[1]?.replace(/&#38;/g, "&");

    // 60 tokens of this test (the dashboard shows 50 a page), the last one labelled apart.
    const made: string[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await worker.admin("/admin/tokens", { method: "POST", body: JSON.stringify({ scope: { pattern: `*.d${i}.dash-list.test` }, label: i === 59 ? "dash-last" : `dash-${i}` }) });
      made.push(((await res.json()) as { id: string }).id);
    }
    const first = await open("/admin/?q=dash-");
    const firstIds = rowsOf(first, "tokens");
    expect(firstIds).toEqual(made.slice(0, 50));
    const second = await open(nextLink(first, "next-tokens")!);
    expect(rowsOf(second, "tokens")).toEqual(made.slice(50));
    expect(nextLink(second, "next-tokens")).toBeUndefined();
    expect(rowsOf(await open("/admin/?q=dash-last"), "tokens")).toEqual([made[59]]);
    expect(rowsOf(await open("/admin/?q=dash-&tstate=revoked"), "tokens")).toEqual([]);

    const hook = (await (await worker.admin("/admin/webhooks", { method: "POST", body: JSON.stringify({ url: "http://127.0.0.1:9/dash-hook", label: "dash-hook" }) })).json()) as { id: string };
    expect(rowsOf(await open("/admin/?q=dash-hook"), "webhooks")).toEqual([hook.id]);
    expect(rowsOf(await open("/admin/?q=dash-hook&wstate=disabled"), "webhooks")).toEqual([]);
    // 22 test events to it: the deliveries show 20 a page, pending (port 9 refuses), none delivered.
    for (let i = 0; i < 22; i++) expect((await worker.admin(`/admin/webhooks/${hook.id}/test`, { method: "POST", body: "{}" })).status).toBe(202);
    const deliveries = await open(`/admin/?q=${encodeURIComponent(hook.id)}&dstate=pending`);
    const deliveryTable = /<table id="deliveries">.*?<\/table>/s.exec(deliveries)![0];
    expect([...deliveryTable.matchAll(/<td class="state-([a-z]+)">/g)].map((m) => m[1])).toEqual(new Array(20).fill("pending"));
    const more = await open(nextLink(deliveries, "next-deliveries")!);
    expect([.../<table id="deliveries">.*?<\/table>/s.exec(more)![0].matchAll(/<td class="state-([a-z]+)">/g)].length).toBe(2);
    expect(/<table id="deliveries">.*?<\/table>/s.exec(await open(`/admin/?q=${encodeURIComponent(hook.id)}&dstate=delivered`))![0]).not.toMatch(/<td class="state-/);

    // Bad cursors: the listing's 400 is shown in its place, the rest of the page still answers.
    for (const [param, what] of [["tokens", "tokens"], ["webhooks", "webhooks"], ["deliveries", "deliveries"]] as const) {
      const html = await open(`/admin/?${param}=not-a-cursor`);
      expect(html, param).toMatch(new RegExp(`id="error-${what}"[^>]*>Could not list ${what}: cursor has an invalid value`));
      expect(html).toContain('<table id="certificates">');
    }
  });
});

describe("GET /admin/caa (issue 26: the CAA record that pins this CA and account)", () => {
  it("prints the record for a domain, with the CA's identity given where its directory names none; typed errors otherwise", async () => {
    const none = await worker.admin("/admin/caa?domain=example.com");
    expect(none.status).toBe(409);
    expect(((await none.json()) as { error: { code: string; message: string } }).error.message).toContain("?caaIdentity=");
    const res = await worker.admin("/admin/caa?domain=example.com&caaIdentity=pebble.test");
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { record: string };
    expect(body.record).toMatch(/^example\.com\. CAA 0 issue "pebble\.test; accounturi=https:\/\/127\.0\.0\.1:\d+\/my-account\/[0-9a-f]+; validationmethods=http-01"$/);
    expect((await worker.admin("/admin/caa?domain=*.example.com&wildcard=true&caaIdentity=pebble.test").then((r) => r.json()) as { record: string }).record).toContain("CAA 0 issuewild");
    for (const bad of ["/admin/caa", "/admin/caa?domain=not_a_domain", "/admin/caa?domain=example.com&x=1"]) expect((await worker.admin(bad)).status, bad).toBe(400);
  });
});
