// `npm run demo` without a terminal (CI, a pipe): it must not offer what cannot work once it exits
// (a curl line to a Worker that is gone), and must say it stopped. Real Pebble and workerd.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

describe("npm run demo off a terminal", () => {
  it("issues, prints no curl line for a Worker that is gone, says it stopped, exits 0", async () => {
    const state = mkdtempSync(join(tmpdir(), "edgecert-demo-"));
    try {
      const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = execFile(join(root, "node_modules", ".bin", "tsx"), [join(root, "scripts", "demo.ts")], {
          cwd: root,
          env: { ...process.env, EDGECERT_DEMO_STATE: state, CI: "" },
          timeout: 150_000,
        }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, out: `${stdout}${stderr}` }));
        child.stdin?.end(); // a pipe, not a TTY
      });
      expect(code, out).toBe(0);
      expect(out).toContain("Issued by Pebble after validating http-01 against the Worker");
      expect(out).not.toMatch(/curl|Try it/);
      expect(out).toMatch(/the Worker and Pebble are stopped/);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});
