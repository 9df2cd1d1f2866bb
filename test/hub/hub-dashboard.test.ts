import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startChromium, type Chromium } from "../support/chromium.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { ADMIN_TOKEN, startWorker, type WorkerInstance } from "../support/worker.ts";
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
  worker = await startWorker(pebble);
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

const serial = async () => ((await (await worker.admin(`/admin/certificates/${cert.id}`)).json()) as { certificate: { serialNumber: string } }).certificate.serialNumber;
const at = (path: string) => new URL(path, worker.url).href;

/** Signs in over plain HTTP (as a browser would post the form); returns the session cookie and a CSRF token from the page. */
async function signIn(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(at("/admin/login"), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: worker.url.origin },
    body: new URLSearchParams({ token: ADMIN_TOKEN }).toString(),
  });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get("set-cookie")!;
  const cookie = setCookie.split(";")[0]!;
  const html = await (await fetch(at("/admin/"), { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  return { cookie, csrf, setCookie };
}

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
});
