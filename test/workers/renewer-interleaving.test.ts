import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/index.ts";
import { createToken, pull } from "../hub/hub-bed.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { settled, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 11 defect 1 in the Worker: a cron `maintain` that refreshes ARI (tick -> CertificateRenewer.run
// -> manager.maintain -> renewal-info GET) overlapping an admin renew, revoke or delete of the same
// certificate. The cron's renewal-info request is held at the outbound boundary while the admin
// operation runs, so the two overlap whenever the Worker lets them; the assertions are what a user
// sees afterwards: the renewed certificate (never the older serial, notAfter never backwards) from
// the admin API, the pull API and the index, and a revoked/deleted certificate stays gone.
//
// Two protections make these pass, and either one alone does: the renewer's per-certificate queue
// (#serial: the admin operation waits for the tick) and the manager's ARI refresh under the
// certificate's lock with a re-read. With both removed (queue gone, refreshAri writing the record it
// read before the CA call, as before d2eb20b) all three fail: the older serial is stored and served,
// and a revoked or deleted certificate comes back in storage, the index and the pull API. With the
// queue gone and refreshAri unlocked but still compare-and-set, storage keeps the new certificate
// but the index shows the older notAfter, and revoked/deleted entries come back in the index.
//
// Pebble 2.4 offers no ARI (RFC 9773): the outbound hook adds `renewalInfo` to the directory and
// answers it with a window far ahead and a Retry-After of an hour, so a cron tick two hours later is
// due for an ARI refresh (ariCheckAt) and not for a renewal.

const HOUR = 3_600_000;
/** How long the cron's renewal-info answer is held waiting for the admin operation to finish. */
const HOLD_MS = 4_000;

let pebble: PebbleInstance;
let worker: WorkerInstance;

/**
 * Set by a test: the next renewal-info GET for the certificate with this serial waits for `release`
 * (and reports it was reached). Other certificates the same tick maintains go through.
 */
let hold: { serialNumber: string; reached: () => void; release: Promise<void> } | undefined;
/** Serial numbers of every certificate the Worker downloaded, in order (RFC 8555 §7.4.2). */
const downloads: { serialNumber: string; notAfter: number }[] = [];

/** The serial number (hex, no leading zeros) in an ARI certID: base64url(AKI) "." base64url(serial DER content), RFC 9773 §4.1. */
function serialOfCertId(certId: string): string {
  const b64 = (certId.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/");
  return Buffer.from(b64, "base64").toString("hex").replace(/^0+/, "");
}

function renewalInfo(): Response {
  // RFC 9773 §4.2: a suggested window (here far ahead: nothing is due) and when to ask again.
  const start = new Date(Date.now() + 300 * 24 * HOUR).toISOString();
  const end = new Date(Date.now() + 302 * 24 * HOUR).toISOString();
  return new Response(JSON.stringify({ suggestedWindow: { start, end } }), { headers: { "content-type": "application/json", "retry-after": "3600" } });
}

async function outbound(request: Request): Promise<Response | undefined> {
  const url = new URL(request.url);
  if (request.method === "GET" && url.pathname === "/dir") {
    const dir = (await (await pebble.fetch(request)).json()) as Record<string, unknown>;
    return Response.json({ ...dir, renewalInfo: `${url.origin}/renewal-info` });
  }
  if (request.method === "GET" && url.pathname.startsWith("/renewal-info/")) {
    const held = hold;
    if (held && serialOfCertId(url.pathname.slice("/renewal-info/".length)) === held.serialNumber.replace(/^0+/, "")) {
      hold = undefined;
      held.reached();
      await held.release;
    }
    return renewalInfo();
  }
  if (request.method === "POST" && url.pathname.startsWith("/certZ/")) {
    const res = await pebble.fetch(request);
    const leaf = parseCertificate(await res.clone().text());
    downloads.push({ serialNumber: leaf.serialNumber, notAfter: leaf.notAfter.getTime() });
    return res;
  }
  return undefined;
}

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { outbound });
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

interface Detail extends CertificateSummary {
  certificate: { serialNumber: string; notAfter: string } | null;
}

const detail = async (id: string) => (await (await worker.admin(`/admin/certificates/${id}`)).json()) as Detail;

async function issue(name: string): Promise<{ id: string; serialNumber: string; notAfter: number; token: string }> {
  const res = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const s = await settled(worker, id);
  expect(s.status, s.lastError ?? "").toBe("valid");
  const d = await detail(id);
  const { token } = await createToken(worker, { scope: { pattern: name } });
  return { id, serialNumber: d.certificate!.serialNumber, notAfter: Date.parse(d.certificate!.notAfter), token };
}

/**
 * Runs a cron tick at `at` whose ARI refresh of certificate `serialNumber` is held until `admin` answered (or {@link HOLD_MS}
 * passed: code that serializes the two cannot answer while the tick is held). Returns the admin
 * response and whether it came while the tick was held.
 */
async function overlap(serialNumber: string, at: number, admin: () => Promise<Response>): Promise<{ response: Response; whileHeld: boolean }> {
  let reached!: () => void;
  let release!: () => void;
  const atRenewalInfo = new Promise<void>((r) => (reached = r));
  hold = { serialNumber, reached, release: new Promise<void>((r) => (release = r)) };
  const tick = worker.cron(at);
  // Bounded: the tick reaches its renewal-info request within a few CA round trips.
  const reachedInTime = await Promise.race([atRenewalInfo.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
  if (!reachedInTime) {
    release();
    throw new Error("the cron tick never asked for renewal info (not due for an ARI refresh?)");
  }
  const answered = admin();
  const whileHeld = await Promise.race([answered.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), HOLD_MS))]);
  release();
  const [response] = await Promise.all([answered, tick]);
  return { response, whileHeld };
}

describe("Worker: a cron ARI refresh overlapping an admin operation on the same certificate", () => {
  it("cron maintain vs admin renew: the renewed certificate stays, everywhere", async () => {
    const name = "race-renew.example.test";
    const first = await issue(name);
    // The index keeps notAfter, not the serial: renew a second later than the first issuance so the
    // renewed certificate's notAfter (whole seconds, RFC 5280 §4.1.2.5) tells the two apart there.
    await new Promise((r) => setTimeout(r, 1_100));
    const downloaded = downloads.length;

    const { response, whileHeld } = await overlap(first.serialNumber, Date.now() + 2 * HOUR, () => worker.admin(`/admin/certificates/${first.id}/renew`, { method: "POST" }));
    expect(response.status, await response.clone().text()).toBe(200);
    const renewedSummary = (await response.json()) as CertificateSummary;
    // The admin renew downloaded exactly one new certificate: that is the one a user must see now.
    expect(downloads.length).toBe(downloaded + 1);
    const renewed = downloads[downloads.length - 1]!;
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(renewed.notAfter).toBeGreaterThan(first.notAfter);
    console.log(`renew answered ${whileHeld ? "while the cron's ARI refresh was held" : "only after the cron's ARI refresh (serialized)"}`);

    // Admin API: the stored certificate is the renewed one, and its summary says so.
    const after = await detail(first.id);
    expect(after.certificate?.serialNumber).toBe(renewed.serialNumber);
    expect(after.status).toBe("valid");
    expect(Date.parse(after.notAfter!)).toBe(renewed.notAfter);
    // notAfter never goes backwards: not below what the renew answered, nor below the first one.
    expect(Date.parse(after.notAfter!)).toBeGreaterThanOrEqual(Date.parse(renewedSummary.notAfter!));
    expect(Date.parse(after.notAfter!)).toBeGreaterThanOrEqual(first.notAfter);
    // The index the cron works from, and the pull API an agent deploys from.
    expect((await (await worker.index()).get(first.id))?.notAfter).toBe(renewed.notAfter);
    const pulled = await pull(worker, name, first.token);
    expect(pulled.status).toBe(200);
    expect(((await pulled.json()) as { serialNumber: string }).serialNumber).toBe(renewed.serialNumber);
  });

  it("cron maintain vs admin revoke: the revoked certificate stays revoked and gone", async () => {
    const name = "race-revoke.example.test";
    const first = await issue(name);
    const { response } = await overlap(first.serialNumber, Date.now() + 2 * HOUR, () => worker.admin(`/admin/certificates/${first.id}/revoke`, { method: "POST", body: "{}" }));
    expect(response.status, await response.clone().text()).toBe(200);
    await expectGone(first.id, name, first.token);
  });

  it("cron maintain vs admin DELETE: the removed certificate stays removed", async () => {
    const name = "race-delete.example.test";
    const first = await issue(name);
    const { response } = await overlap(first.serialNumber, Date.now() + 2 * HOUR, () => worker.admin(`/admin/certificates/${first.id}`, { method: "DELETE" }));
    expect(response.status, await response.clone().text()).toBe(200);
    await expectGone(first.id, name, first.token);
  });
});

/** No admin entry, no index entry, nothing to pull, no stored record: not brought back by the tick. */
async function expectGone(id: string, name: string, token: string): Promise<void> {
  expect((await worker.admin(`/admin/certificates/${id}`)).status).toBe(404);
  expect(await (await worker.index()).get(id)).toBeUndefined();
  expect((await pull(worker, name, token)).status).toBe(404);
  const kv = await worker.mf.getKVNamespace("CERTS");
  expect(await kv.get(`certificates/${id}.json`)).toBeNull();
}
