import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startChromium, type Chromium } from "../support/chromium.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { ADMIN_TOKEN, certificateSerial, dashboardSignIn, startWorker, type WorkerInstance } from "../support/worker.ts";
import { addCertificate, createToken } from "./hub-bed.ts";

// The dashboard of the Worker in workerd (against Pebble), in headless Chromium over CDP.
const ARTIFACTS = join(import.meta.dirname, "..", "artifacts");
let pebble: PebbleInstance;
let worker: WorkerInstance;
let chromium: Chromium;
let cert: { id: string };
let receiver: WebhookReceiver;
let hookId: string;

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { WEBHOOK_ALLOW_PRIVATE_URLS: "true" } });
  chromium = await startChromium();
  receiver = await startWebhookReceiver();
  const hook = await worker.admin("/admin/webhooks", { method: "POST", body: JSON.stringify({ url: `${receiver.origin}/hook`, label: "ops" }) });
  hookId = ((await hook.json()) as { id: string }).id;
  cert = await addCertificate(worker, ["shop.dash.test", "www.shop.dash.test"]);
  await addCertificate(worker, ["api.dash.test"]);
  await createToken(worker, { scope: { certificate: cert.id }, label: "web-1" });
  await mkdir(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await chromium?.stop();
  await worker?.stop();
  await receiver?.close();
  await pebble?.stop();
});

const serial = () => certificateSerial(worker, cert.id);
const at = (path: string) => new URL(path, worker.url).href;

/** Signs in over plain HTTP (as a browser would post the form); returns the session cookie and a CSRF token from the page. */
const signIn = () => dashboardSignIn(worker);

const post = (path: string, headers: Record<string, string>, form: Record<string, string>) =>
  fetch(at(path), { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(form).toString() });

describe("dashboard at /admin/", () => {
  it("in Chromium: redirects to sign-in, signs in, shows the certificates and tokens, renews one", async () => {
    const page = await chromium.newPage();
    await page.goto(at("/admin/"));
    expect(await page.evaluate<string>("location.pathname")).toBe("/admin/login");
    await page.submitting(`document.querySelector('input[name=token]').value = ${JSON.stringify(ADMIN_TOKEN)}; document.querySelector('form').submit()`);
    expect(await page.evaluate<string>("location.pathname"), await page.evaluate<string>("document.body.innerText")).toBe("/admin/");
    // The session cookie is HttpOnly: no script sees it.
    expect(await page.evaluate<string>("document.cookie")).toBe("");
    const rows = await page.evaluate<Array<{ id: string; text: string }>>(
      "[...document.querySelectorAll('#certificates tbody tr')].map(r => ({ id: r.dataset.id, text: r.innerText }))",
    );
    expect(rows.map((r) => r.id).sort()).toHaveLength(2);
    const row = rows.find((r) => r.id === cert.id)!;
    expect(row.text).toContain("shop.dash.test");
    expect(row.text).toContain("www.shop.dash.test");
    expect(row.text).toContain("valid");
    expect(row.text).toMatch(/Pebble/);
    // The issuer comes from the index (no certificate read per row): the API's listing carries it.
    const listed = ((await (await worker.admin("/admin/certificates")).json()) as { certificates: Array<{ id: string; issuer: string | null }> }).certificates;
    expect(listed.find((x) => x.id === cert.id)?.issuer).toMatch(/Pebble/);
    expect(await page.evaluate<number>(`document.querySelectorAll('#certificates svg').length`)).toBe(2);
    expect(await page.evaluate<string>("document.querySelector('#tokens').innerText")).toContain("web-1");
    // The page's style applied under the nonce-only CSP (no inline style would be otherwise).
    expect(await page.evaluate<string>("getComputedStyle(document.querySelector('table')).borderCollapse")).toBe("collapse");
    // Webhook endpoints and the deliveries of the two certificates' obtained events.
    await receiver.waitFor((rs) => rs.length >= 2, "the two obtained events");
    await page.goto(at("/admin/"));
    expect(await page.evaluate<string>("document.querySelector('#webhooks').innerText")).toContain(`${receiver.origin}/hook`);
    const delivered = await page.evaluate<string[]>("[...document.querySelectorAll('#deliveries tbody tr')].map(r => r.innerText)");
    expect(delivered.filter((t) => t.includes("certificate.obtained") && t.includes("delivered"))).toHaveLength(2);
    const signedIn = join(ARTIFACTS, "dashboard-signed-in.png");
    await writeFile(signedIn, await page.screenshot());

    const before = await serial();
    await page.submitting(`document.querySelector('tr[data-id=${JSON.stringify(cert.id)}] form[action$="/renew"] button').click()`);
    expect(await page.evaluate<string>("document.querySelector('#notice').innerText")).toContain(`Renewed ${cert.id}`);
    expect(await serial()).not.toBe(before);
    await page.submitting(`document.querySelector('#webhooks tr[data-id=${JSON.stringify(hookId)}] form[action$="/test"] button').click()`);
    expect(await page.evaluate<string>("document.querySelector('#notice').innerText")).toContain(`Sent a test event to ${hookId}`);
    await receiver.waitFor((rs) => rs.some((r) => r.body.includes('"webhook.test"')), "the test event");
    const renewed = join(ARTIFACTS, "dashboard-renewed.png");
    await writeFile(renewed, await page.screenshot());
    console.log(`dashboard screenshots: ${signedIn} ${renewed}`);
  });

  it("refuses actions without the session's CSRF token, from another origin, or without a cookie; the cookie is no admin token", async () => {
    const a = await signIn();
    const b = await signIn();
    expect(a.setCookie).toMatch(/HttpOnly/);
    expect(a.setCookie).toMatch(/Secure/);
    expect(a.setCookie).toMatch(/SameSite=Strict/);
    expect(a.cookie).not.toContain(ADMIN_TOKEN);
    const before = await serial();
    const renew = `/admin/ui/certificates/${cert.id}/renew`;
    const origin = worker.url.origin;
    const cases: Array<[Response, number]> = [
      [await post(renew, { cookie: a.cookie, origin }, {}), 403],
      [await post(renew, { cookie: a.cookie, origin }, { csrf: "x".repeat(43) }), 403],
      [await post(renew, { cookie: a.cookie, origin }, { csrf: b.csrf }), 403],
      [await post(renew, { cookie: a.cookie, origin: "https://evil.example" }, { csrf: a.csrf }), 403],
      [await post(renew, { cookie: a.cookie }, { csrf: a.csrf }), 403],
      [await post(renew, { origin }, { csrf: a.csrf }), 401],
      [await post(renew, { cookie: "edgecert_session=1.2.3", origin }, { csrf: a.csrf }), 401],
      [await post(renew, { cookie: `edgecert_session=${ADMIN_TOKEN}`, origin }, { csrf: a.csrf }), 401],
      [await post("/admin/login", { origin: "https://evil.example" }, { token: ADMIN_TOKEN }), 403],
      [await post("/admin/login", { origin }, { token: "wrong" }), 401],
    ];
    expect(cases.map(([res]) => res.status)).toEqual(cases.map(([, status]) => status));
    expect(await serial()).toBe(before);

    // HTML without a cookie → sign-in; the JSON API does not take the cookie.
    const html = await fetch(at("/admin/"), { redirect: "manual" });
    expect(html.status).toBe(303);
    expect(html.headers.get("location")).toBe("/admin/login");
    expect((await fetch(at("/admin/certificates"), { headers: { cookie: a.cookie } })).status).toBe(401);

    // With the right token, origin and session the action goes through.
    const ok = await post(renew, { cookie: a.cookie, origin }, { csrf: a.csrf });
    expect(ok.status).toBe(303);
    expect(await serial()).not.toBe(before);

    // Strict CSP, no script on the page.
    const res = await fetch(at("/admin/"), { headers: { cookie: a.cookie } });
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).not.toMatch(/unsafe-inline|script-src/);
    expect(await res.text()).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/i);
  });

  it("in Chromium: Revoke takes a confirming step naming the certificate and the consequence; Delete is where it is suggested; states and failures coloured; times relative with the exact time; a certificate added from the page; no notice from the URL (issue 25 defect 10)", async () => {
    const now = Date.now();
    await (await worker.index()).upsertMany([
      { id: "never-issued-dash", names: ["broken.dash.test"], dueAt: now + 3_600_000, status: "failed", failures: 4, lastError: "the CA refused: example failure", nextAttemptAt: now + 3_600_000, updatedAt: now },
    ]);
    const page = await chromium.newPage();
    await page.goto(at("/admin/login"));
    await page.submitting(`document.querySelector('input[name=token]').value = ${JSON.stringify(ADMIN_TOKEN)}; document.querySelector('form').submit()`);
    const text = (selector: string) => page.evaluate<string | null>(`document.querySelector(${JSON.stringify(selector)})?.innerText ?? null`);
    const color = (selector: string, property = "color") => page.evaluate<string>(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).${property}`);

    // A crafted link cannot put words into the signed-in page (was: ?notice= shown as is).
    await page.goto(at("/admin/?notice=" + encodeURIComponent("Your session expired: sign in again at https://evil.example")));
    expect(await page.evaluate<string>("document.body.innerText")).not.toContain("evil.example");
    expect(await text("#notice")).toBeNull();

    // States coloured, the failed one (was uncoloured: the CSS styled .failing only) red like failing.
    expect(await text(`tr[data-id="never-issued-dash"] td.state-failed`)).toContain("failed");
    expect(await color(`tr[data-id="never-issued-dash"] td.state-failed`)).toBe("rgb(207, 34, 46)");
    expect(await color(`tr[data-id=${JSON.stringify(cert.id)}] td.state-valid`)).toBe("rgb(26, 127, 55)");
    // Times relative, the exact time in the title (was: raw ISO strings).
    const times = await page.evaluate<Array<{ text: string; title: string; datetime: string }>>(
      `[...document.querySelectorAll('tr[data-id=${JSON.stringify(cert.id)}] time')].map(t => ({ text: t.innerText, title: t.title, datetime: t.getAttribute('datetime') }))`,
    );
    expect(times.length).toBeGreaterThanOrEqual(2);
    for (const t of times) {
      expect(t.text).toMatch(/^(in \d+ (seconds?|minutes?|hours?|days?)|\d+ (seconds?|minutes?|hours?|days?) ago)$/);
      expect(t.title).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
      expect(t.title.replace(" UTC", "Z").replace(" ", "T")).toBe(t.datetime.replace(/\.\d{3}Z$/, "Z"));
    }
    expect(await page.evaluate<string>(`document.querySelector('#certificates').innerText`)).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:/);

    // Added from the page.
    await page.submitting(`document.querySelector('#add-certificate textarea[name=names]').value = 'added.dash.test, www.added.dash.test'; document.querySelector('#add-certificate form').submit()`);
    expect(await text("#notice")).toContain("Added added.dash.test, www.added.dash.test: issuing now");
    expect(await page.evaluate<string>("document.querySelector('#notice').className")).toBe("notice ok");
    const added = ((await (await worker.admin("/admin/certificates?q=added.dash.test")).json()) as { certificates: Array<{ id: string }> }).certificates;
    expect(added).toHaveLength(1);
    const addedId = added[0]!.id;
    for (let i = 0; i < 300 && ((await (await worker.admin(`/admin/certificates/${addedId}`)).json()) as { status: string }).status !== "valid"; i++) await new Promise((r) => setTimeout(r, 100));
    await page.goto(at("/admin/"));
    // The notice was shown once: gone on the next page.
    expect(await text("#notice")).toBeNull();

    // A failure is styled apart from a success.
    await page.submitting(`document.querySelector('#add-certificate textarea[name=names]').value = 'not a name..'; document.querySelector('#add-certificate form').submit()`);
    expect(await text("#notice")).toMatch(/^Failed: /);
    expect(await page.evaluate<string>("document.querySelector('#notice').className")).toBe("notice failed");
    expect(await color("#notice", "backgroundColor")).toBe("rgb(255, 235, 233)");
    const failureShot = join(ARTIFACTS, "dashboard-failure-notice.png");
    await writeFile(failureShot, await page.screenshot());

    // Revoke: the first click only asks, naming the names, the serial and what happens.
    const addedSerial = await certificateSerial(worker, addedId);
    await page.submitting(`document.querySelector('tr[data-id=${JSON.stringify(addedId)}] a[href$="/revoke"]').click()`);
    const consequence = (await text("#consequence"))!;
    expect(consequence).toContain("added.dash.test");
    expect(consequence).toContain("www.added.dash.test");
    expect(consequence).toContain(addedSerial);
    expect(consequence).toMatch(/clients that check revocation refuse it/);
    expect(consequence).toMatch(/cannot be undone/);
    expect(await color("form[action$='/revoke'] button", "backgroundColor")).toBe("rgb(207, 34, 46)");
    const confirmShot = join(ARTIFACTS, "dashboard-revoke-confirm.png");
    await writeFile(confirmShot, await page.screenshot());
    expect((await worker.admin(`/admin/certificates/${addedId}`)).status).toBe(200);
    await page.submitting(`document.querySelector('#cancel').click()`);
    expect(await page.evaluate<string>("location.pathname")).toBe("/admin/");
    expect((await worker.admin(`/admin/certificates/${addedId}`)).status).toBe(200);
    // A POST without the confirming field is sent to the confirming step, and revokes nothing.
    const session = await signIn();
    const unconfirmed = await post(`/admin/ui/certificates/${addedId}/revoke`, { cookie: session.cookie, origin: worker.url.origin }, { csrf: session.csrf });
    expect(unconfirmed.status).toBe(303);
    expect(unconfirmed.headers.get("location")).toBe(`/admin/ui/certificates/${addedId}/revoke`);
    expect((await worker.admin(`/admin/certificates/${addedId}`)).status).toBe(200);
    // Confirmed: revoked.
    await page.submitting(`document.querySelector('tr[data-id=${JSON.stringify(addedId)}] a[href$="/revoke"]').click()`);
    await page.submitting(`document.querySelector('form[action$="/revoke"] button').click()`);
    expect(await text("#notice")).toContain(`Revoked ${addedId}`);
    expect((await worker.admin(`/admin/certificates/${addedId}`)).status).toBe(404);

    // Revoke on an entry with no certificate says so and offers Delete (was: "delete it instead", no button).
    await page.submitting(`document.querySelector('tr[data-id="never-issued-dash"] a[href$="/revoke"]').click()`);
    expect(await text("#consequence")).toMatch(/nothing to revoke.*Delete it instead/);
    await page.submitting(`document.querySelector('a[href$="/delete"]').click()`);
    expect(await text("#consequence")).toContain("broken.dash.test");
    await page.submitting(`document.querySelector('form[action$="/delete"] button').click()`);
    expect(await text("#notice")).toContain("Deleted never-issued-dash");
    expect((await worker.admin("/admin/certificates/never-issued-dash")).status).toBe(404);
    console.log(`dashboard screenshots: ${failureShot} ${confirmShot}`);
  });

  it("in Chromium: certificates held back by the CA's budget show their place in the queue, the limit that holds them and when they are expected, relative and exact (issue 26)", async () => {
    const now = Date.now();
    const account = `${pebble.directoryUrl.replace(/\/dir$/, "")}/my-account/1`;
    const queued = (id: string, name: string, queuedFor: string, inMs: number) => ({
      id, names: [name], dueAt: now + inMs, status: "failed", failures: 1, nextAttemptAt: now + inMs, updatedAt: now, queuedFor,
      lastError: `the CA's limit for ${queuedFor} is spent until ${new Date(now + inMs).toISOString()}: ${name} waits for it (nothing was sent to the CA)`,
    });
    const fillers = Array.from({ length: 20 }, (_, i) => `queued-ahead-${String(i).padStart(2, "0")}-dash`);
    // As the renewer records a BudgetSpentError (workers/certificate-renewer.ts): the bucket, due at its refill.
    await (await worker.index()).upsertMany([
      queued("queued-late-dash", "late.queue.dash.test", `orders ${account}`, 2 * 3_600_000),
      queued("queued-soon-dash", "soon.queue.dash.test", `orders ${account}`, 30 * 60_000),
      queued("queued-domain-dash", "one.busy.dash.test", "domain busy.dash.test", 100 * 60_000),
    ]);
    try {
      const page = await chromium.newPage();
      await page.goto(at("/admin/login"));
      await page.submitting(`document.querySelector('input[name=token]').value = ${JSON.stringify(ADMIN_TOKEN)}; document.querySelector('form').submit()`);
      const rows = await page.evaluate<Array<{ id: string; cells: string[] }>>("[...document.querySelectorAll('#queue tbody tr')].map(r => ({ id: r.dataset.id, cells: [...r.cells].map(c => c.innerText) }))");
      expect(rows.map((r) => [r.id, r.cells[0]])).toEqual([["queued-soon-dash", "1"], ["queued-domain-dash", "2"], ["queued-late-dash", "3"]]);
      expect(await page.evaluate<string>("[...document.querySelectorAll('h2')].map(h => h.innerText).find(t => t.startsWith('CA queue'))")).toBe("CA queue (3 waiting for the CA's limits)");
      const [soon, domain] = rows;
      expect(soon!.cells[1]).toBe("soon.queue.dash.test");
      expect(soon!.cells[2]).toContain("new orders per account");
      expect(soon!.cells[2]).toContain(account);
      expect(domain!.cells[2]).toBe("certificates per domain busy.dash.test");
      // Relative and exact, both shown (an estimate people plan by).
      const exact = (ms: number) => new Date(now + ms).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
      expect(soon!.cells[3]).toBe(`in 30 minutes (${exact(30 * 60_000)})`);
      expect(domain!.cells[3]).toBe(`in 2 hours (${exact(100 * 60_000)})`);
      // The certificate's own row says it is queued, where, for what and until when (was: "failed" and the error).
      const row = (await page.evaluate<string>(`document.querySelector('#certificates tr[data-id="queued-late-dash"]').innerText`)).replace(/\s+/g, " ");
      expect(row).toContain(`queued #3 for the CA's limit of new orders per account ${account}, expected in 2 hours (${exact(2 * 3_600_000)})`);
      expect(row).not.toContain("failed");
      expect(await page.evaluate<string>(`getComputedStyle(document.querySelector('#certificates tr[data-id="queued-late-dash"] td.state-queued')).color`)).toBe("rgb(154, 103, 0)");
      // Filtered to the queued ones (a state of its own, whatever status their failure state gives them).
      await page.goto(at("/admin/?state=queued"));
      expect((await page.evaluate<string[]>("[...document.querySelectorAll('#certificates tbody tr')].map(r => r.dataset.id)")).sort()).toEqual(["queued-domain-dash", "queued-late-dash", "queued-soon-dash"]);
      await page.goto(at("/admin/"));
      const shot = join(ARTIFACTS, "dashboard-queue.png");
      await writeFile(shot, await page.screenshot());
      console.log(`dashboard screenshot: ${shot}`);
      // 20 more ahead of them: the queue's first page (20) no longer holds the late one, whose row then
      // takes its place from one GET /admin/queue?ids= for the page's other waiting certificates.
      await (await worker.index()).upsertMany(fillers.map((id, i) => queued(id, `${id}.queue.dash.test`, `orders ${account}`, 60_000 + i)));
      await page.goto(at("/admin/"));
      const late = (await page.evaluate<string>(`document.querySelector('#certificates tr[data-id="queued-late-dash"]').innerText`)).replace(/\s+/g, " ");
      expect(late).toContain(`queued #23 for the CA's limit of new orders per account ${account}, expected in 2 hours`);
    } finally {
      for (const id of ["queued-late-dash", "queued-soon-dash", "queued-domain-dash", ...fillers]) await worker.admin(`/admin/certificates/${id}`, { method: "DELETE" });
    }
  });

  it("in Chromium with KEY_TYPE=foo: the page says which variable and what to do, and still lists the certificates (issue 25 defect 9, was 500)", async () => {
    const w = await startWorker(pebble, { port: 0, vars: { KEY_TYPE: "foo" } });
    try {
      const now = Date.now();
      await (await w.index()).upsertMany([{ id: "listed-under-error", names: ["cfg.dash.test"], dueAt: now + 86_400_000, status: "valid", notAfter: now + 60 * 86_400_000, failures: 0, updatedAt: now }]);
      const page = await chromium.newPage();
      await page.goto(new URL("/admin/login", w.url).href);
      await page.submitting(`document.querySelector('input[name=token]').value = ${JSON.stringify(ADMIN_TOKEN)}; document.querySelector('form').submit()`);
      expect(await page.evaluate<string>("location.pathname")).toBe("/admin/");
      const error = await page.evaluate<string>("document.querySelector('#config-error').innerText");
      expect(error).toContain("Configuration error — KEY_TYPE: must be one of ES256, ES384, RS256, EdDSA");
      expect(error).toContain("wrangler.toml [vars]");
      expect(await page.evaluate<string>("getComputedStyle(document.querySelector('#config-error')).backgroundColor")).toBe("rgb(255, 235, 233)");
      expect(await page.evaluate<string>(`document.querySelector('tr[data-id="listed-under-error"]').innerText`)).toContain("cfg.dash.test");
      const shot = join(ARTIFACTS, "dashboard-configuration-error.png");
      await writeFile(shot, await page.screenshot());
      console.log(`dashboard screenshot: ${shot}`);
    } finally {
      await w.stop();
    }
  });

  it("sign-out ends the session on the server: the old cookie opens nothing (issue 25 defect 14)", async () => {
    const a = await signIn();
    const other = await signIn();
    const origin = worker.url.origin;
    expect((await fetch(at("/admin/"), { headers: { cookie: a.cookie }, redirect: "manual" })).status).toBe(200);
    const out = await post("/admin/logout", { cookie: a.cookie, origin }, { csrf: a.csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/Max-Age=0/);
    // The cookie as it was before sign-out (a copy kept elsewhere): the page and actions refuse it.
    const page = await fetch(at("/admin/"), { headers: { cookie: a.cookie }, redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/admin/login");
    expect((await post(`/admin/ui/certificates/${cert.id}/renew`, { cookie: a.cookie, origin }, { csrf: a.csrf })).status).toBe(401);
    // Another session is not affected.
    expect((await fetch(at("/admin/"), { headers: { cookie: other.cookie }, redirect: "manual" })).status).toBe(200);
  });

  it("sign-in attempts are throttled for the whole deployment: 30 wrong tokens meet 429 with Retry-After, and the right token waits too (issue 25 defect 14)", async () => {
    const w = await startWorker(pebble, { port: 0 });
    try {
      const attempt = (token: string) =>
        fetch(new URL("/admin/login", w.url), {
          method: "POST",
          redirect: "manual",
          headers: { "content-type": "application/x-www-form-urlencoded", origin: w.url.origin },
          body: new URLSearchParams({ token }).toString(),
        });
      const statuses: number[] = [];
      const retryAfters: number[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await attempt(`${ADMIN_TOKEN.slice(0, -2)}${i.toString().padStart(2, "0")}`);
        statuses.push(res.status);
        if (res.status === 429) retryAfters.push(Number(res.headers.get("retry-after")));
        await res.body?.cancel();
      }
      expect(statuses.filter((s) => s === 401)).toHaveLength(10);
      expect(statuses.slice(10)).toEqual(new Array(20).fill(429));
      for (const r of retryAfters) expect(r > 0 && r <= 900, String(r)).toBe(true);
      const right = await attempt(ADMIN_TOKEN);
      expect(right.status).toBe(429);
      expect(right.headers.get("set-cookie")).toBeNull();
      expect(await right.text()).toContain("Too many sign-in attempts");
      // The count is fleet-wide (one Durable Object record), not per isolate; the bearer API still answers.
      expect((await w.admin("/admin/status")).status).toBe(200);
    } finally {
      await w.stop();
    }
  });
});
