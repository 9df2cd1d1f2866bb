import { lstat, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bedFlags, httpFlags, runCli, runCliInPty, show, startCliBed, verifyLive, type CliBed } from "./cli-bed.ts";

/** The real `edgecert` executable in Node against Pebble: issue, renew, list, revoke, account. */
let bed: CliBed;
beforeAll(async () => {
  bed = await startCliBed();
});
afterAll(async () => {
  await bed?.stop();
});

/** Flags every run against the bed needs. */
const common = (dir: string) => bedFlags(bed, dir);
const http = () => httpFlags(bed);


/** A deploy hook that appends `name serial` to `log`, and how many times it ran. */
const hookTo = (log: string) => `echo "$EDGECERT_CERT_NAME $EDGECERT_SERIAL" >> ${log}`;
async function hookRuns(log: string): Promise<string[]> {
  try {
    return (await readFile(log, "utf8")).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}
const HOUR = 3_600_000;
const at = (ms: number) => ({ EDGECERT_NOW: new Date(Date.now() + ms).toISOString() });
/** The `--dns-exec` command that publishes through challtestsrv. */
const dnsExec = () => `${process.execPath} ${join(import.meta.dirname, "challtestsrv-hook.mjs")}`;

describe("edgecert in Node", () => {
  it("issue over http-01: certbot layout, key 0600, deploy hook once; again: nothing changes, no hook", async () => {
    const dir = join(bed.dir, "issue-http");
    const hookLog = join(bed.dir, "issue-http-hook.log");
    const hook = `printf '%s|%s|%s|%s\\n' "$EDGECERT_CERT_NAME" "$EDGECERT_DOMAINS" "$EDGECERT_SERIAL" "$EDGECERT_FULLCHAIN_PATH" >> ${hookLog}`;
    const args = ["issue", "-d", "node.example.test", "-d", "www.node.example.test", "--agree-tos", ...http(), ...common(dir), "--deploy-hook", hook, "--json"];
    const first = await runCli(bed, "node", args);
    expect(first.code, show(first)).toBe(0);
    expect(first.json).toMatchObject({ ok: true, obtained: true, changed: true, name: "node.example.test" });
    const live = join(dir, "live", "node.example.test");
    expect((await lstat(live)).isSymbolicLink()).toBe(true);
    expect(await readlink(live)).toBe(join("..", "archive", "node.example.test", String(first.json!.serialNumber)));
    await verifyLive(bed, live);
    const hookLines = (await readFile(hookLog, "utf8")).trim().split("\n");
    expect(hookLines).toEqual([`node.example.test|node.example.test www.node.example.test|${first.json!.serialNumber}|${join(live, "fullchain.pem")}`]);

    const again = await runCli(bed, "node", args);
    expect(again.code, show(again)).toBe(0);
    expect(again.json).toMatchObject({ ok: true, obtained: false, changed: false, serialNumber: first.json!.serialNumber });
    // The stored certificate is current: no request at all, and the hook did not run.
    expect(again.requests).toBe(0);
    expect((await readFile(hookLog, "utf8")).trim().split("\n")).toHaveLength(1);
    console.log(`[cli] issue (2 names, http-01, new account): ${first.requests} requests; issue again: ${again.requests}`);
  });

  it("without --agree-tos: exit 2, and the error names the CA's terms URL", async () => {
    const run = await runCli(bed, "node", ["issue", "-d", "tos.example.test", ...http(), ...common(join(bed.dir, "tos"))]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/terms of service \(data:text\/plain,.*\).*--agree-tos/);
  });

  it("a failed validation: exit 1, one actionable line naming the name and what to check; --verbose adds the CA's problem document", async () => {
    const dir = join(bed.dir, "broken");
    const args = ["issue", "-d", "broken.example.test", "--agree-tos", "--webroot", join(bed.dir, "unserved"), ...common(dir)];
    const quiet = await runCli(bed, "node", [...args, "--quiet"]);
    expect(quiet.code, show(quiet)).toBe(1);
    expect(quiet.stdout).toBe("");
    expect(quiet.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^edgecert: validation failed for broken\.example\.test \(http-01\): connection: .* — check that the CA can reach this host/),
    ]);
    const verbose = await runCli(bed, "node", [...args, "--verbose"]);
    expect(verbose.code, show(verbose)).toBe(1);
    const doc = verbose.stderr.split("\n").find((l) => l.startsWith("{"));
    expect(JSON.parse(doc ?? "{}")).toMatchObject({ type: "urn:ietf:params:acme:error:connection", identifier: { type: "dns", value: "broken.example.test" } });
    // Nothing remembered for renew after a failed first issue.
    const list = await runCli(bed, "node", ["list", ...common(dir), "--json"]);
    expect(list.json).toMatchObject({ certificates: [] });
  });

  it("renew: no-op without a request, ARI check only when the CA asked, renews when due (hook once), list, revoke", async () => {
    const dir = join(bed.dir, "renew");
    const log = join(bed.dir, "renew-hook.log");
    const flags = common(dir);
    const issue = await runCli(bed, "node", ["issue", "-d", "renew.example.test", "--agree-tos", ...http(), ...flags, "--deploy-hook", hookTo(log), "--json"]);
    expect(issue.code, show(issue)).toBe(0);
    expect(await hookRuns(log)).toHaveLength(1);

    // Nothing due, and the CA's Retry-After (6 h) has not passed: not one request.
    const idle = await runCli(bed, "node", ["renew", ...flags, "--json"]);
    expect(idle.code, show(idle)).toBe(0);
    expect(idle.requests).toBe(0);
    expect(idle.json).toMatchObject({ ok: true, certificates: [{ name: "renew.example.test", status: "not-due" }] });

    // 7 h later: the ARI check only (directory + renewalInfo), window still ahead, no hook.
    const ariOnly = await runCli(bed, "node", ["renew", ...flags, "--json"], at(7 * HOUR));
    expect(ariOnly.code, show(ariOnly)).toBe(0);
    expect(ariOnly.json).toMatchObject({ certificates: [{ status: "not-due" }] });
    const ariPaths = bed.proxy.requests.slice(-ariOnly.requests).map((r) => `${r.method} ${r.path.replace(/\/renewal-info\/.*/, "/renewal-info/…")}`);
    expect(ariPaths).toEqual(["GET /dir", "GET /renewal-info/…"]);
    expect(await hookRuns(log)).toHaveLength(1);

    // The CA moves the window into the past (RFC 9773 §4.2): the next run after Retry-After renews.
    bed.ariWindow(new Date(Date.now() - 2 * HOUR), new Date(Date.now() - HOUR), { times: 1 });
    const due = await runCli(bed, "node", ["renew", ...flags, "--json"], at(14 * HOUR));
    expect(due.code, show(due)).toBe(0);
    expect(due.json).toMatchObject({ ok: true, certificates: [{ status: "renewed" }] });
    const renewed = (due.json!.certificates as Array<{ serialNumber: string }>)[0]!.serialNumber;
    expect(renewed).not.toBe(issue.json!.serialNumber);
    expect((await hookRuns(log)).map((l) => l.split(" ")[1])).toEqual([issue.json!.serialNumber, renewed]);
    await verifyLive(bed, join(dir, "live", "renew.example.test"));

    // Renewed just now (the new certificate's window is ahead): nothing due again, no hook.
    const after = await runCli(bed, "node", ["renew", ...flags, "--json"], at(14 * HOUR));
    expect(after.code, show(after)).toBe(0);
    expect(after.json).toMatchObject({ certificates: [{ status: "not-due" }] });
    expect(await hookRuns(log)).toHaveLength(2);

    const list = await runCli(bed, "node", ["list", ...flags, "--json"]);
    expect(list.code, show(list)).toBe(0);
    expect(list.requests).toBe(0);
    expect(list.json).toMatchObject({ certificates: [{ name: "renew.example.test", serialNumber: renewed, lastError: null, failures: 0 }] });
    const text = await runCli(bed, "node", ["list", ...flags]);
    expect(text.stdout).toMatch(/renew\.example\.test: renew\.example\.test\n {2}expires .* next renewal .*\(ARI\)/);

    const revoke = await runCli(bed, "node", ["revoke", "--cert-name", "renew.example.test", "--reason", "superseded", ...flags, "--json"]);
    expect(revoke.code, show(revoke)).toBe(0);
    expect(revoke.json).toMatchObject({ ok: true, revoked: true, serialNumber: renewed, reason: 4 });
    expect(bed.proxy.requests.slice(-revoke.requests).filter((r) => r.method === "POST").map((r) => r.status)).toContain(200);
    await expect(stat(join(dir, "live", "renew.example.test"))).rejects.toThrow();
    const empty = await runCli(bed, "node", ["list", ...flags, "--json"]);
    expect(empty.json).toMatchObject({ certificates: [] });
    console.log(
      `[cli] requests — issue ${issue.requests}, renew (nothing due) ${idle.requests}, renew (ARI check) ${ariOnly.requests}, renew (due) ${due.requests}, list ${list.requests}, revoke ${revoke.requests}`,
    );
  });

  it("renew on a failure: exit 1 with a summary naming the certificate, the failure recorded for list; issue over dns-01 (--dns-exec)", async () => {
    const dir = join(bed.dir, "dns");
    const failSwitch = join(bed.dir, "dns-fail");
    const env = { CHALLTESTSRV_URL: bed.pebble.challtestsrvUrl, HOOK_FAIL_FILE: failSwitch };
    const flags = common(dir);
    const issue = await runCli(bed, "node", ["issue", "-d", "dns.example.test", "-d", "*.dns.example.test", "--agree-tos", "--dns-exec", dnsExec(), ...flags, "--json"], env);
    expect(issue.code, show(issue)).toBe(0);
    expect(issue.json).toMatchObject({ name: "dns.example.test", names: ["dns.example.test", "*.dns.example.test"] });
    await verifyLive(bed, join(dir, "live", "dns.example.test"));

    await writeFile(failSwitch, "");
    const failed = await runCli(bed, "node", ["renew", "--force", ...flags], env);
    await rm(failSwitch);
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stdout).toMatch(/dns\.example\.test: FAILED .*dns-exec present _acme-challenge\.dns\.example\.test\. exited 1/);
    expect(failed.stdout).toMatch(/1 certificate\(s\): 0 renewed, 0 updated on disk, 0 not due, 1 failed/);
    const list = await runCli(bed, "node", ["list", ...flags, "--json"]);
    expect(list.json).toMatchObject({ certificates: [{ name: "dns.example.test", failures: 1, lastError: expect.stringContaining("exited 1") }] });
  });

  it("renew from two hosts' cron on one shared storage: one order; each host ends with the new files and runs its own hook once per certificate", async () => {
    const shared = join(bed.dir, "shared-storage");
    const hostA = join(bed.dir, "host-a");
    const hostB = join(bed.dir, "host-b");
    const logA = join(bed.dir, "host-a.log");
    const logB = join(bed.dir, "host-b.log");
    const base = ["--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile, "--storage", shared];
    const issue = await runCli(bed, "node", ["issue", "-d", "shared.example.test", "--agree-tos", ...http(), ...base, "--dir", hostA, "--deploy-hook", hookTo(logA), "--json"]);
    expect(issue.code, show(issue)).toBe(0);
    const orders = () => bed.proxy.requests.filter((r) => r.method === "POST" && r.path.startsWith("/order-plz")).length;
    const before = orders();
    // After the CA's Retry-After both hosts ask ARI: "renew now" for the current certificate, the new one's window is ahead.
    bed.ariRenewFirstOnly();
    const later = at(7 * HOUR);
    const [a, b] = await Promise.all([
      runCli(bed, "node", ["renew", ...base, "--dir", hostA, "--json"], later),
      runCli(bed, "node", ["renew", ...base, "--dir", hostB, "--deploy-hook", hookTo(logB), "--json"], later),
    ]);
    expect(a.code, show(a)).toBe(0);
    expect(b.code, show(b)).toBe(0);
    expect(orders() - before).toBe(1);
    const entry = (r: typeof a) => (r.json!.certificates as Array<{ serialNumber: string; status: string }>)[0]!;
    // Whichever host took the lock first renewed; the other either waited and found the new
    // certificate, or (the lock held while it looked) kept the current one for now.
    expect([entry(a).status, entry(b).status].filter((s) => s === "renewed")).toHaveLength(1);
    const renewed = entry(a).status === "renewed" ? entry(a).serialNumber : entry(b).serialNumber;
    // Next cron run on both hosts: both converge on the new certificate, without another order.
    const [a2, b2] = await Promise.all([
      runCli(bed, "node", ["renew", ...base, "--dir", hostA, "--json"], later),
      runCli(bed, "node", ["renew", ...base, "--dir", hostB, "--deploy-hook", hookTo(logB), "--json"], later),
    ]);
    expect([entry(a2).serialNumber, entry(b2).serialNumber]).toEqual([renewed, renewed]);
    expect(orders() - before).toBe(1);
    // Each host's hook ran once per certificate that reached its disk, ending with the new one.
    for (const log of [logA, logB]) {
      const serials = (await hookRuns(log)).map((l) => l.split(" ")[1]);
      expect(serials.at(-1)).toBe(renewed);
      expect(new Set(serials).size).toBe(serials.length);
    }
    expect((await hookRuns(logA)).map((l) => l.split(" ")[1])).toEqual([issue.json!.serialNumber, renewed]);
    await verifyLive(bed, join(hostB, "live", "shared.example.test"));
  });

  it("account: show, update the contact, roll the key over, deactivate", async () => {
    const dir = join(bed.dir, "account");
    const flags = [...common(dir), "--email", "old@example.test"];
    const issue = await runCli(bed, "node", ["issue", "-d", "account.example.test", "--agree-tos", ...http(), ...flags, "--json"]);
    expect(issue.code, show(issue)).toBe(0);
    const shown = await runCli(bed, "node", ["account", ...flags, "--json"]);
    expect(shown.code, show(shown)).toBe(0);
    expect(shown.json).toMatchObject({ status: "valid", contact: ["mailto:old@example.test"] });
    const updated = await runCli(bed, "node", ["account", "update", "--new-email", "new@example.test", ...flags, "--json"]);
    expect(updated.code, show(updated)).toBe(0);
    expect(updated.json).toMatchObject({ contact: ["mailto:new@example.test"] });
    const moved = [...common(dir), "--email", "new@example.test"];
    const rolled = await runCli(bed, "node", ["account", "rollover", ...moved, "--json"]);
    expect(rolled.code, show(rolled)).toBe(0);
    // Signed with the new key, the account is still the same one.
    const again = await runCli(bed, "node", ["account", ...moved, "--json"]);
    expect(again.json).toMatchObject({ status: "valid", url: shown.json!.url, contact: ["mailto:new@example.test"] });
    // The certificate follows the account to its new email: renew --force still works.
    const renew = await runCli(bed, "node", ["renew", "--force", ...common(dir), "--json"]);
    expect(renew.code, show(renew)).toBe(0);
    const refused = await runCli(bed, "node", ["account", "deactivate", ...moved]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--yes");
    const gone = await runCli(bed, "node", ["account", "deactivate", "--yes", ...moved, "--json"]);
    expect(gone.code, show(gone)).toBe(0);
    expect(gone.json).toMatchObject({ status: "deactivated" });
    console.log(`[cli] requests — account show ${shown.requests}, update ${updated.requests}, rollover ${rolled.requests}, deactivate ${gone.requests}`);
  });
});

describe("edgecert on a terminal", () => {
  it("renders the live progress view (steps per name, elapsed time) and leaves the terminal clean", async () => {
    const dir = join(bed.dir, "tty");
    const run = await runCliInPty(bed, ["issue", "-d", "tty.example.test", "-d", "www.tty.example.test", "--agree-tos", ...http(), ...common(dir)]);
    expect(run.code, run.output).toBe(0);
    const out = run.output;
    // Cursor hidden while drawing, redrawn in place (cursor up + clear line), shown again at the end.
    expect(out).toContain("\x1b[?25l");
    expect(out).toMatch(/\x1b\[\d+A\r\x1b\[2K/);
    expect(out.lastIndexOf("\x1b[?25h")).toBeGreaterThan(out.lastIndexOf("\x1b[?25l"));
    // The last frame: every step done for both names, the block marked done with its elapsed time.
    const frames = out.split("\x1b[2K");
    const last = frames.slice(-4).join("");
    expect(last).toMatch(/✓ issuing tty\.example\.test {2}\d+\.\ds/);
    for (const name of ["tty.example.test", "www.tty.example.test"]) {
      expect(last).toMatch(new RegExp(`${name.replace(/\./g, "\\.")} +✓ authorization {2}✓ validation {2}✓ finalize {2}✓ download`));
    }
    // Intermediate frames showed work in progress (a spinner on a running step) and the challenge type.
    expect(out).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (authorization|validation|finalize|download)/);
    expect(out).toContain("http-01");
    expect(out).toContain("Certificate for tty.example.test, www.tty.example.test saved in");
  });
});
