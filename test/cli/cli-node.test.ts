import { lstat, readFile, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openssl } from "../support/openssl.ts";
import { runCli, show, startCliBed, type CliBed } from "./cli-bed.ts";

/** The real `edgecert` executable in Node against Pebble: issue, renew, list, revoke, account. */
let bed: CliBed;
beforeAll(async () => {
  bed = await startCliBed();
});
afterAll(async () => {
  await bed?.stop();
});

/** Flags every run against the bed needs. */
const common = (dir: string) => ["--dir", dir, "--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile];
const http = () => ["--http", "--http-port", String(bed.pebble.httpPort), "--http-address", "127.0.0.1"];

/** Checks the files with openssl: the chain verifies to Pebble's root and the key matches. */
async function verifyLive(live: string): Promise<void> {
  const files = {
    "cert.pem": await readFile(join(live, "cert.pem")),
    "chain.pem": await readFile(join(live, "chain.pem")),
    "fullchain.pem": await readFile(join(live, "fullchain.pem")),
    "root.pem": await readFile(bed.rootFile),
    "privkey.pem": await readFile(join(live, "privkey.pem")),
  };
  expect(await openssl(["verify", "-CAfile", "{dir}/root.pem", "-untrusted", "{dir}/chain.pem", "{dir}/cert.pem"], files)).toContain("cert.pem: OK");
  expect(await openssl(["verify", "-CAfile", "{dir}/root.pem", "-untrusted", "{dir}/fullchain.pem", "{dir}/fullchain.pem"], files)).toContain("OK");
  const fromKey = await openssl(["pkey", "-in", "{dir}/privkey.pem", "-pubout"], files);
  const fromCert = await openssl(["x509", "-in", "{dir}/cert.pem", "-noout", "-pubkey"], files);
  expect(fromKey.trim()).toBe(fromCert.trim());
  expect((await stat(join(live, "privkey.pem"))).mode & 0o777).toBe(0o600);
}

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
    await verifyLive(live);
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
});
