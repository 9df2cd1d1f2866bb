import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { cp, lstat, mkdtemp, readFile, readdir, readlink, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportPrivateKeyPem } from "../../src/webcrypto/keys.ts";
import { formatSerial } from "../../src/webcrypto/serial.ts";
import { parseCertificate } from "../../src/webcrypto/x509.ts";
import { MAIN } from "../cli/cli-bed.ts";
import { certify, party, type CertifyOptions, type Party } from "../support/x509-chains.ts";

// `edgecert pull` (the real CLI, bundled, as a child process) against a hostile hub: a stand-in HTTP
// server on 127.0.0.1 answering GET /v1/certificates/<name> with crafted bodies — what no real hub
// sends, so no real part can play it. Each answer must be refused with exit 1 and a typed reason,
// leaving live/<name> and its files exactly as they were and nothing written outside --out (issue 23
// defect 7). Certificates are real X.509 (ES256) made by test/support/x509-chains.ts.
const NAME = "web.hostile.test";
const DAY = 86_400_000;

let dir: string;
let cli: string;
let server: Server;
let hubUrl: string;
/** What the stand-in answers, by the deploy token presented (one per case, so cases run side by side). */
const answers = new Map<string, unknown>();
let ca: Party;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgecert-hostile-"));
  cli = join(dir, "edgecert.mjs");
  await build({ entryPoints: [MAIN], bundle: true, platform: "node", format: "esm", target: "node20", outfile: cli, logLevel: "warning" });
  ca = await party("Hostile Test CA");
  server = createServer((req, res) => {
    // Never a 304: every pull gets the crafted body.
    res.writeHead(200, { "content-type": "application/json", etag: `W/"${Math.random()}"`, "edgecert-next-renewal": new Date(Date.now() + 30 * DAY).toISOString() });
    res.end(JSON.stringify(answers.get((req.headers.authorization ?? "").replace(/^Bearer /, "")) ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A certificate the stand-in can serve: chain PEM (leaf + CA), its key PEM and serial. */
async function issue(options: CertifyOptions & { subject?: Party } = {}) {
  const subject = options.subject ?? (await party(NAME));
  const leaf = await certify(subject, ca, { dnsNames: [NAME], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 60 * DAY), ...options });
  const chainPem = leaf + (await certify(ca, ca));
  return { chainPem, keyPem: await exportPrivateKeyPem(subject.key.privateKey), serialNumber: parseCertificate(leaf).serialNumber, subject };
}

type Issued = Awaited<ReturnType<typeof issue>>;

/** The hub's JSON for `cert`, with `edit` applied. */
function body(cert: Issued, edit: Record<string, unknown> = {}) {
  const info = parseCertificate(cert.chainPem);
  return {
    id: "web-hostile-test-id",
    names: [NAME],
    serialNumber: cert.serialNumber,
    issuer: info.issuer,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    nextRenewalAt: new Date(Date.now() + 30 * DAY).toISOString(),
    chainPem: cert.chainPem,
    privateKeyPem: cert.keyPem,
    ...edit,
  };
}

let tokens = 0;

/** Runs `edgecert pull` into `out`, the stand-in answering it with `answer`. */
async function pull(out: string, answer: unknown): Promise<{ code: number | null; json: Record<string, unknown> | undefined; stderr: string }> {
  const token = `edt_${String(tokens++).padStart(12, "A")}_${"B".repeat(43)}`;
  answers.set(token, answer);
  const child = spawn(process.execPath, [cli, "pull", "--from", hubUrl, "--name", NAME, "--out", out, "--json"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, EDGECERT_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  const line = stdout.trim().split("\n").pop();
  return { code, json: line ? (JSON.parse(line) as Record<string, unknown>) : undefined, stderr };
}

/** Every file under `root` with its content (symlinks as their target): what a refusal must leave as it was. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) out[p] = `-> ${await readlink(p)}`;
      else if (e.isDirectory()) await walk(p);
      else out[p] = await readFile(p, "utf8");
    }
  };
  await walk(root);
  return out;
}

describe("edgecert pull refuses what a hostile hub sends (issue 23 defect 7)", () => {
  it("installs a good answer, then refuses each crafted one with exit 1 and a typed reason, live files untouched", async () => {
    // Installed once, then copied for each case (the live symlink is relative: the copy stands alone).
    const template = join(dir, "template");
    const good = await issue();
    const first = await pull(template, body(good));
    expect(first.code, first.stderr + JSON.stringify(first.json)).toBe(0);
    expect(first.json).toMatchObject({ status: "updated", serialNumber: formatSerial(good.serialNumber) });
    expect(await readlink(join(template, "live", NAME))).toBe(join("..", "archive", NAME, formatSerial(good.serialNumber)));

    const stranger = await issue();
    const older = await issue({ subject: good.subject, notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() + 30 * DAY) });
    const cases: Array<[string, () => Promise<unknown> | unknown, string]> = [
      ["serial that climbs out of --out", () => body(good, { serialNumber: "../../../x" }), "invalid_serial"],
      ["serial with a slash", () => body(good, { serialNumber: "0A/../../x" }), "invalid_serial"],
      ["serial that is not a number", () => body(good, { serialNumber: "not-hex" }), "invalid_serial"],
      ["serial longer than 20 octets", () => body(good, { serialNumber: "7F".repeat(22) }), "invalid_serial"],
      ["serial that is not the certificate's", () => body(stranger, { serialNumber: good.serialNumber }), "invalid_serial"],
      ["key of another certificate", () => body(stranger, { privateKeyPem: good.keyPem }), "key_mismatch"],
      ["key that is not a key", () => body(stranger, { privateKeyPem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }), "key_mismatch"],
      ["certificate for other names", async () => body(await issue({ dnsNames: ["other.hostile.test", "*.other.hostile.test"] })), "name_not_covered"],
      ["certificate with no names", async () => body(await issue({ dnsNames: [] })), "name_not_covered"],
      ["certificate older than the live one", () => body(older), "older_than_live"],
      ["expired certificate", async () => body(await issue({ notBefore: new Date(Date.now() - 90 * DAY), notAfter: new Date(Date.now() - DAY) })), "expired"],
      ["chain with a block that is no certificate", () => body(stranger, { chainPem: stranger.chainPem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }), "malformed_chain"],
      ["chain with no certificate", () => body(stranger, { chainPem: "hello" }), "malformed_chain"],
      ["no JSON object", () => ["x"], "malformed_answer"],
      ["serial of the wrong type", () => body(stranger, { serialNumber: 5 }), "malformed_answer"],
    ];
    const refused: string[] = [];
    // Three CLI processes at a time: each case has its own copy of the installed state and its own token.
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const k = next++;
        const [what, make, reason] = cases[k]!;
        const root = join(dir, `case-${k}`);
        const out = join(root, "a", "b", "out");
        await cp(template, out, { recursive: true, verbatimSymlinks: true });
        const before = await snapshot(root);
        const run = await pull(out, await make());
        expect(run.code, `${what}: ${run.stderr} ${JSON.stringify(run.json)}`).toBe(1);
        expect(run.json?.error, what).toMatch(new RegExp(`^refused the hub's answer \\(${reason}\\): .*nothing was installed$`));
        // Not one file changed, added or repointed anywhere under the directory above --out.
        expect(await snapshot(root), what).toEqual(before);
        expect(await lstat(join(root, "a", "b", "x")).catch(() => undefined), what).toBeUndefined();
        refused.push(reason);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(refused).toHaveLength(cases.length);
    console.log(`hostile hub: ${cases.length} crafted answers refused (${[...new Set(refused)].join(", ")}), live files unchanged each time`);

    // The checks refuse what is wrong, not what is new: a renewal (same names, later, new key) installs,
    // a wildcard certificate covers the name one label down, and a renewal that starts later but ends
    // sooner (a shorter-lived profile) is not older.
    const renewed = await issue({ notBefore: new Date(Date.now() - DAY / 2), notAfter: new Date(Date.now() + 90 * DAY) });
    const live = join(template, "live", NAME);
    const updated = await pull(template, body(renewed));
    expect(updated.code, updated.stderr + JSON.stringify(updated.json)).toBe(0);
    expect(await readlink(live)).toBe(join("..", "archive", NAME, formatSerial(renewed.serialNumber)));
    const wildcard = await issue({ dnsNames: ["*.hostile.test"], notBefore: new Date(Date.now() - DAY / 4), notAfter: new Date(Date.now() + 90 * DAY) });
    expect((await pull(template, body(wildcard))).code).toBe(0);
    expect(await readFile(join(live, "privkey.pem"), "utf8")).toBe(wildcard.keyPem.endsWith("\n") ? wildcard.keyPem : `${wildcard.keyPem}\n`);
    const shortlived = await issue({ notBefore: new Date(Date.now() - DAY / 8), notAfter: new Date(Date.now() + 6 * DAY) });
    const shorter = await pull(template, body(shortlived));
    expect(shorter.code, shorter.stderr + JSON.stringify(shorter.json)).toBe(0);
    expect(await readlink(live)).toBe(join("..", "archive", NAME, formatSerial(shortlived.serialNumber)));
    // Another certificate for the name that started earlier but ends later (what a pattern token gets
    // when the hub's rule, latest notAfter, prefers it) is not older either.
    const longer = await issue({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() + 120 * DAY) });
    const switched = await pull(template, body(longer));
    expect(switched.code, switched.stderr + JSON.stringify(switched.json)).toBe(0);
    expect(await readlink(live)).toBe(join("..", "archive", NAME, formatSerial(longer.serialNumber)));
  });
});
