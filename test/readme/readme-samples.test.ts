// Every ```ts sample in README.md is a complete program: each is typechecked as a module of its own
// against the package's sources (the exports of jsr.json, i.e. what `edgecert/...` resolves to), with
// unused imports and undefined names as errors; the first is run against a real Pebble, as a user
// following the README would run it.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate, splitPemChain } from "../../src/index.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

const root = join(import.meta.dirname, "..", "..");
const work = join(root, ".tmp", `readme-samples-${process.pid}`);
const exportsMap = (JSON.parse(readFileSync(join(root, "jsr.json"), "utf8")) as { exports: Record<string, string> }).exports;

/** The ```ts fenced blocks of README.md, with the line each starts on. */
function samples(): Array<{ line: number; code: string }> {
  const text = readFileSync(join(root, "README.md"), "utf8");
  const out: Array<{ line: number; code: string }> = [];
  for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    out.push({ line: text.slice(0, m.index).split("\n").length, code: m[1]! });
  }
  return out;
}

/** `edgecert` / `edgecert/<sub>` → the source file jsr.json maps it to. */
const specifiers = Object.entries(exportsMap).map(([sub, file]) => [sub === "." ? "edgecert" : `edgecert/${sub.slice(2)}`, join(root, file)] as const);

function run(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 180_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: work, env: { ...process.env, NO_COLOR: "1", ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, out: `${stdout}${stderr}` }));
  });
}

beforeAll(() => mkdirSync(work, { recursive: true }));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("README samples", () => {
  const found = samples();

  it("there are samples, and each imports edgecert", () => {
    expect(found.length).toBeGreaterThanOrEqual(6);
    for (const s of found) expect(s.code, `README.md:${s.line}`).toMatch(/from "edgecert(\/[a-z/]+)?"/);
  });

  it("each typechecks as a standalone module against the package (strict, no unused or undefined names)", async () => {
    const files = found.map((s, i) => {
      const file = `sample-${i + 1}-line-${s.line}.ts`;
      writeFileSync(join(work, file), s.code);
      return file;
    });
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "DOM", "DOM.Iterable"],
        module: "ESNext",
        moduleResolution: "Bundler",
        moduleDetection: "force",
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        strict: true,
        noUnusedLocals: true,
        skipLibCheck: true,
        noEmit: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
        paths: Object.fromEntries(specifiers.map(([spec, file]) => [spec, [file]])),
      },
      files,
    };
    writeFileSync(join(work, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    // Packages the samples name (hono, redis) resolve from the repository's node_modules.
    const { code, out } = await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(work, "tsconfig.json")]);
    const perSample = files.map((f) => `${f}: ${out.split("\n").filter((l) => l.startsWith(f)).length} errors`);
    console.log(`README samples typechecked: ${files.length}; ${perSample.join(", ")}`);
    expect(out.trim(), out).toBe("");
    expect(code).toBe(0);
  });

  describe("the first sample, run against Pebble", () => {
    let pebble: PebbleInstance | undefined;
    beforeAll(async () => {
      pebble = await startPebble();
    });
    afterAll(async () => {
      await pebble?.stop();
    });

    it("obtains and prints a certificate for the names it is given", async () => {
      const first = found[0]!;
      let code = first.code;
      // The published specifiers, pointed at the sources (tsx runs TypeScript as is).
      for (const [spec, file] of specifiers) code = code.replaceAll(`from "${spec}"`, `from ${JSON.stringify(pathToFileURL(file).href)}`);
      writeFileSync(join(work, "first.ts"), code);
      writeFileSync(join(work, "pebble-ca.pem"), pebble!.caPem);
      const names = ["readme.example.test", "www.readme.example.test"];
      const result = await run(join(root, "node_modules", ".bin", "tsx"), [join(work, "first.ts")], {
        ACME_DIRECTORY_URL: pebble!.directoryUrl,
        DOMAINS: names.join(","),
        HTTP_PORT: String(pebble!.httpPort),
        // As the README's error for an untrusted CA says: trust Pebble's TLS root.
        NODE_EXTRA_CA_CERTS: join(work, "pebble-ca.pem"),
      });
      expect(result.code, result.out).toBe(0);
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]*-----END CERTIFICATE-----/.exec(result.out)?.[0];
      expect(pem, result.out).toBeTruthy();
      expect(parseCertificate(splitPemChain(pem!)[0]!).dnsNames.sort()).toEqual(names);
      expect(result.out).toMatch(/valid until \d{4}-/);
      // Its consoleLogger lines are stamped and include the steps after the challenges.
      expect(result.out).toMatch(/\{"time":"\d{4}-[^"]+Z","level":"info","event":"obtain.finalized"/);
    });
  });
});
