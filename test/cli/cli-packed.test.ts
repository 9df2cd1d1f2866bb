import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsumerProject } from "../consumers/consumer-project.ts";
import { findRuntime } from "../runtimes/runtime-binaries.ts";
import { reachable } from "../support/module-graph.ts";
import { runCliCommand, show, startCliBed, verifyLive, type CliBed } from "./cli-bed.ts";

/**
 * The CLI as a user gets it: `npm pack` (prepack builds dist/), the tarball unpacked into a fresh
 * project's node_modules with its runtime dependencies, and `edgecert` linked into node_modules/.bin
 * with its execute bit as `npm install` links a package's `bin`. Then the three documented commands —
 * `npx edgecert`, `bunx --bun edgecert`, `deno run -A npm:edgecert` — issue and renew against Pebble.
 * No registry is asked: Deno reads npm: packages from node_modules (`"nodeModulesDir": "manual"`).
 */
let bed: CliBed;
let project: string;

beforeAll(async () => {
  bed = await startCliBed();
  project = await mkdtemp(join(tmpdir(), "edgecert-packed-cli-"));
  await createConsumerProject(project);
  const bin = JSON.parse(await readFile(join(project, "node_modules", "edgecert", "package.json"), "utf8")) as { bin: Record<string, string> };
  const target = join(project, "node_modules", "edgecert", bin.bin.edgecert!);
  await chmod(target, 0o755);
  await mkdir(join(project, "node_modules", ".bin"), { recursive: true });
  await symlink(join("..", "edgecert", bin.bin.edgecert!), join(project, "node_modules", ".bin", "edgecert"));
  await writeFile(join(project, "deno.json"), JSON.stringify({ nodeModulesDir: "manual" }));
}, 300_000);

afterAll(async () => {
  await bed?.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

const runtimeBinary = (name: "deno" | "bun") => {
  const found = findRuntime(name);
  if ("error" in found) throw new Error(found.error);
  return found.path;
};

const commands = {
  npx: () => ({ binary: join(dirname(process.execPath), "npx"), args: ["--no-install", "edgecert"] }),
  bunx: () => ({ binary: runtimeBinary("bun"), args: ["x", "--bun", "edgecert"] }),
  deno: () => ({ binary: runtimeBinary("deno"), args: ["run", "-A", "--no-lock", "npm:edgecert"] }),
};

describe("the packed entry points", () => {
  it("each loads as a few bundled ES modules: no package but hono (an optional peer) and the runtime's built-ins (was: ~170 modules of ours and the @peculiar/asn1-* CommonJS graph, ~120 ms of import)", async () => {
    const pkgDir = join(project, "node_modules", "edgecert");
    const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8")) as { exports: Record<string, string | { default: string }>; bin: Record<string, string> };
    const entries = [...Object.values(pkg.exports).map((t) => (typeof t === "string" ? t : t.default)), ...Object.values(pkg.bin)].filter((t) => t.endsWith(".js"));
    expect(entries.length).toBeGreaterThan(10);
    const sizes: string[] = [];
    for (const entry of entries) {
      const graph = reachable(join(pkgDir, entry));
      const bare = [...graph.values()].flatMap((m) => m.specifiers).filter((s) => !s.startsWith("node:") && s !== "hono" && !s.startsWith("hono/") && s !== "bun");
      expect(bare, entry).toEqual([]);
      expect(graph.size, entry).toBeLessThanOrEqual(40);
      sizes.push(`${entry} ${graph.size}`);
    }
    console.log(`[packed] modules per entry: ${sizes.join(", ")}`);
  });
});

describe("the packed CLI", () => {
  it.each(Object.keys(commands) as Array<keyof typeof commands>)("%s edgecert: --help, issue over http-01, renew as a no-op", async (name) => {
    const command = { ...commands[name](), cwd: project };
    const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}` };
    const help = await runCliCommand(bed, command, ["--help"], env);
    expect(help.code, show(help)).toBe(0);
    expect(help.stdout).toContain("Usage: edgecert <command>");

    const dir = join(project, `state-${name}`);
    const domain = `${name}.packed.example.test`;
    // Deno's TLS (webpki) refuses the fault proxy's self-signed certificate, so Deno talks to Pebble
    // directly and its requests come from the CLI's own count (as in cli-runtimes.test.ts).
    const flags = name === "deno"
      ? ["--dir", dir, "--server", bed.pebble.directoryUrl, "--ca-file", bed.pebbleCaFile]
      : ["--dir", dir, "--server", bed.proxy.directoryUrl, "--ca-file", bed.caFile];
    const hookLog = join(project, `${name}-hook.log`);
    const http = ["--http", "--http-port", String(bed.pebble.httpPort), "--http-address", "127.0.0.1"];
    const issued = await runCliCommand(bed, command, ["issue", "-d", domain, "--agree-tos", ...http, ...flags, "--deploy-hook", `echo "$EDGECERT_SERIAL" >> ${hookLog}`, "--json"], env, 120_000);
    expect(issued.code, show(issued)).toBe(0);
    await verifyLive(bed, join(dir, "live", domain));

    const renewed = await runCliCommand(bed, command, ["renew", ...flags, "--json"], env, 120_000);
    expect(renewed.code, show(renewed)).toBe(0);
    expect(renewed.json).toMatchObject({ ok: true, certificates: [{ name: domain, status: "not-due" }] });
    expect(renewed.requests).toBe(0);
    expect(renewed.json!.requests ?? 0).toBe(0);
    expect((await readFile(hookLog, "utf8")).trim().split("\n")).toEqual([String(issued.json!.serialNumber)]);
    console.log(`[packed cli] ${name}: issue ${String(issued.json!.requests ?? issued.requests)} requests, renew ${String(renewed.json!.requests ?? renewed.requests)}`);
  }, 240_000);
});
