// The first hour on a fresh machine: the system packages the suite starts (Pebble, openssl, Redis,
// PostgreSQL, Chromium) are found once, before any test file, by scripts/test-preflight.ts (npm test's
// pretest and vitest's globalSetup). Missing ones are named in one line with the install command, or
// installed in one `apt-get install` when running as root on Debian; never one spawn ENOENT per file.
// PATH is stripped to a directory of our own, so this runs the real preflight on this machine without
// touching its packages: apt-get there is a stand-in that records its arguments.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
let bin: string;

beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), "edgecert-preflight-"));
  symlinkSync(process.execPath, join(bin, "node")); // tsx's `#!/usr/bin/env node`; nothing else is on PATH
});
afterEach(() => rmSync(bin, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, env: { HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", PATH: bin, ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }));
  });
}

const tsx = join(root, "node_modules", "tsx", "dist", "cli.mjs");
const preflight = join(root, "scripts", "test-preflight.ts");
/** What the stripped PATH lacks on this machine; PostgreSQL and Chromium are found by absolute path. */
const missing = ["pebble", "openssl", "redis-server"];

describe("the test preflight", () => {
  it("names every missing package in one line with the install command, and stops", async () => {
    const { code, stdout, stderr } = await run([tsx, preflight], { EDGECERT_INSTALL_PACKAGES: "never" });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    const lines = stderr.trim().split("\n");
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain(`missing system packages: ${missing.join(" ")}`);
    expect(lines[0]).toContain(`sudo apt-get install -y ${missing.join(" ")}`);
  });

  it.runIf(process.getuid?.() === 0)("as root on Debian installs them all in one apt-get step, saying so in one line", async () => {
    // The stand-in apt-get "installs" by putting executables on the stripped PATH.
    writeFileSync(join(bin, "apt-get"), `#!/bin/sh\necho "$*" >> "${bin}/apt.log"\nif [ "$1" = install ]; then for b in pebble pebble-challtestsrv openssl redis-server; do printf '#!/bin/sh\\n' > "${bin}/$b"; /bin/chmod +x "${bin}/$b"; done; fi\n`);
    chmodSync(join(bin, "apt-get"), 0o755);
    const { code, stdout, stderr } = await run([tsx, preflight], {});
    expect(code, stderr).toBe(0);
    expect(stdout.trim().split("\n"), stdout).toEqual([`edgecert: installing the missing system packages ${missing.join(", ")} (apt-get install -y ${missing.join(" ")})…`]);
    expect(readFileSync(join(bin, "apt.log"), "utf8").trim().split("\n")).toEqual(["update -qq", `install -y -qq ${missing.join(" ")}`]);
  });

  it("a vitest run without Pebble stops before any test file with that one line, no spawn ENOENT", async () => {
    const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
    const { code, stdout, stderr } = await run([vitest, "run", "test/docs/doc-samples.test.ts"], { EDGECERT_INSTALL_PACKAGES: "never" });
    const out = `${stdout}${stderr}`;
    expect(code, out).toBe(1);
    expect(out).not.toMatch(/ENOENT/);
    expect(out.match(/missing system packages/g), out).toHaveLength(1);
    expect(out).toContain(`apt-get install -y ${missing.join(" ")}`);
    expect(out).not.toMatch(/Test Files/);
  });
});
