import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { reachable as reachableFrom } from "../support/module-graph.ts";

const root = resolve(import.meta.dirname, "..", "..");
const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const reachable = (entry: string) => reachableFrom(resolve(root, entry));

function nodeOnlyImports(entry: string): string[] {
  const found: string[] = [];
  for (const [file, { specifiers, via }] of reachable(entry)) {
    for (const spec of specifiers) {
      if (nodeBuiltins.has(spec)) found.push(`${relative(root, file)} imports ${spec}${via ? ` (via ${relative(root, via)})` : ""}`);
    }
  }
  return found;
}

describe("entry points", () => {
  it("the default entry and the Workers-facing ones reach no Node-only module", () => {
    const reached = reachable("src/index.ts");
    expect(reached.size).toBeGreaterThan(20);
    expect([...reached.keys()].some((f) => f.includes(`${join("src", "tls")}`))).toBe(false);
    for (const entry of ["src/index.ts", "src/webcrypto/index.ts", "src/acme/index.ts", "src/tls/bun.ts", "src/tls/deno.ts"]) {
      expect(nodeOnlyImports(entry), entry).toEqual([]);
    }
  });

  it("Node-only code stays behind its subpaths", () => {
    expect(nodeOnlyImports("src/tls/node.ts").length).toBeGreaterThan(0);
  });

  it("jsr.json matches package.json: name, version, and one TypeScript source per export", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; exports: Record<string, unknown> };
    const jsr = JSON.parse(readFileSync(join(root, "jsr.json"), "utf8")) as { name: string; version: string; exports: Record<string, string> };
    expect(jsr.name).toBe("@edgecert/edgecert");
    expect(jsr.version).toBe(pkg.version);
    const expected: Record<string, string> = {};
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === "./package.json") continue;
      const dist = typeof target === "string" ? target : (target as { default: string }).default;
      expect(dist, subpath).toMatch(/^\.\/dist\/.+\.js$/);
      expected[subpath] = dist.replace(/^\.\/dist\//, "./src/").replace(/\.js$/, ".ts");
    }
    expect(jsr.exports).toEqual(expected);
    for (const source of Object.values(jsr.exports)) expect(existsSync(join(root, source)), source).toBe(true);
  });
});
