// Every exported member of every entry point is documented, with no reference to a type a user cannot
// import: `deno doc --lint` over the entries of jsr.json (the same subpaths as package.json's exports),
// offline (no remote modules; npm packages from the existing node_modules, which it must not modify).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const deno = join(root, "node_modules", ".bin", "deno");
const OFFLINE = ["--no-remote", "--node-modules-dir=manual"];

function denoDocLint(files: string[], cwd = root): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(deno, ["doc", "--lint", ...OFFLINE, ...files], { cwd, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, out: `${stdout}${stderr}` }));
  });
}

describe("deno doc --lint", () => {
  const jsrExports = (JSON.parse(readFileSync(join(root, "jsr.json"), "utf8")) as { exports: Record<string, string> }).exports;
  const npmExports = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown> }).exports;

  it("jsr.json and package.json export the same entry points", () => {
    expect(Object.keys(jsrExports).sort()).toEqual(Object.keys(npmExports).filter((k) => k !== "./package.json").sort());
  });

  it("reports nothing for any entry point (every exported member documented, no private type references)", async () => {
    const entries = Object.values(jsrExports);
    const { code, out } = await denoDocLint(entries);
    const errors = out.split("\n").filter((l) => l.startsWith("error"));
    console.log(`deno doc --lint over ${entries.length} entry points: ${errors.length === 0 ? "clean" : errors.join("; ")}`);
    expect(errors, out).toEqual([]);
    expect(code, out).toBe(0);
  });

  it("the check bites: an undocumented export is reported", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgecert-doclint-"));
    try {
      writeFileSync(join(dir, "mod.ts"), "/** A documented one. */\nexport const documented = 1;\nexport const undocumented = 2;\n");
      const { code, out } = await denoDocLint([join(dir, "mod.ts")], dir);
      expect(code).not.toBe(0);
      expect(out).toMatch(/missing-jsdoc/);
      expect(out).toMatch(/mod\.ts:3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
