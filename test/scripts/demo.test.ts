// `npm run demo` without a terminal (CI, a pipe): it must not offer what cannot work once it exits
// (a curl line to a Worker that is gone), and must say it stopped. Real Pebble and workerd.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

function runDemo(env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(join(root, "node_modules", ".bin", "tsx"), [join(root, "scripts", "demo.ts")], {
      cwd: root,
      env: { ...process.env, CI: "", ...env },
      timeout: 150_000,
    }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, out: `${stdout}${stderr}` }));
    child.stdin?.end(); // a pipe, not a TTY
  });
}

describe("npm run demo when Pebble cannot start", () => {
  it("says so with Pebble's own output and what to do, no stack trace, exits 1", async () => {
    // A pebble and challtestsrv that are installed but fail at once, as a broken install would.
    const bin = mkdtempSync(join(tmpdir(), "edgecert-demo-bin-"));
    const state = mkdtempSync(join(tmpdir(), "edgecert-demo-"));
    try {
      for (const name of ["pebble", "pebble-challtestsrv"]) {
        writeFileSync(join(bin, name), `#!/bin/sh\necho "${name}: cannot read its configuration" >&2\nexit 1\n`);
        chmodSync(join(bin, name), 0o755);
      }
      const { code, out } = await runDemo({ PATH: `${bin}:${process.env.PATH ?? ""}`, EDGECERT_DEMO_STATE: state });
      expect(code, out).toBe(1);
      expect(out).toContain("demo failed: the local Pebble CA could not start");
      expect(out).toContain("pebble-challtestsrv: cannot read its configuration");
      expect(out).toContain("sudo apt-get install --reinstall pebble");
      expect(out, out).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(bin, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    }
  });
});

describe("npm run demo off a terminal", () => {
  it("issues, prints no curl line for a Worker that is gone, says it stopped, exits 0", async () => {
    const state = mkdtempSync(join(tmpdir(), "edgecert-demo-"));
    try {
      const { code, out } = await runDemo({ EDGECERT_DEMO_STATE: state });
      expect(code, out).toBe(0);
      expect(out).toContain("Issued by Pebble after validating http-01 against the Worker");
      expect(out).not.toMatch(/curl|Try it/);
      expect(out).toMatch(/the Worker and Pebble are stopped/);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});
