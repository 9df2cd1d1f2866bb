// Every ```ts sample in README.md and docs/*.md is a complete program: each is typechecked as a module of
// its own against the package's sources (the exports of jsr.json, i.e. what `edgecert/...` resolves to),
// with unused imports and undefined names as errors; the first sample of docs/library.md is run against a
// real Pebble, as a user following it would run it. Every relative link in those pages resolves.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate, splitPemChain } from "../../src/index.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

const root = join(import.meta.dirname, "..", "..");
const work = join(root, ".tmp", `doc-samples-${process.pid}`);
const exportsMap = (JSON.parse(readFileSync(join(root, "jsr.json"), "utf8")) as { exports: Record<string, string> }).exports;

/** The documentation pages, relative to the repository root: README.md and docs/*.md. */
const pages = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];

/** The ```ts fenced blocks of every page, with the page and the line each starts on. */
function samples(): Array<{ page: string; line: number; code: string }> {
  const out: Array<{ page: string; line: number; code: string }> = [];
  for (const page of pages) {
    const text = readFileSync(join(root, page), "utf8");
    for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      out.push({ page, line: text.slice(0, m.index).split("\n").length, code: m[1]! });
    }
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

describe("documentation samples (README.md, docs/*.md)", () => {
  const found = samples();

  it("there are samples, and each imports edgecert", () => {
    expect(found.length).toBeGreaterThanOrEqual(8);
    for (const s of found) expect(s.code, `${s.page}:${s.line}`).toMatch(/from "edgecert(\/[a-z/]+)?"/);
  });

  it("each typechecks as a standalone module against the package (strict, no unused or undefined names)", async () => {
    const files = found.map((s) => {
      const file = `${s.page.replace(/[/.]/g, "-")}-line-${s.line}.ts`;
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
        // A rerun rechecks only what changed (the package's sources are most of the work).
        incremental: true,
        tsBuildInfoFile: join(root, ".tmp", "tsbuildinfo", "doc-samples.tsbuildinfo"),
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
    console.log(`documentation samples typechecked: ${files.length}; ${perSample.join(", ")}`);
    expect(out.trim(), out).toBe("");
    expect(code).toBe(0);
  });

  describe("the first sample of docs/library.md, run against Pebble", () => {
    let pebble: PebbleInstance | undefined;
    beforeAll(async () => {
      pebble = await startPebble();
    });
    afterAll(async () => {
      await pebble?.stop();
    });

    it("obtains and prints a certificate for the names it is given", async () => {
      const first = found.find((s) => s.page === "docs/library.md")!;
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
        // As docs/library.md's error for an untrusted CA says: trust Pebble's TLS root.
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

  it("every relative link in the pages points at a file that exists, and every #anchor at a heading", () => {
    let checked = 0;
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#") as [string, string | undefined];
        const file = path === "" ? join(root, page) : join(root, dirname(page), path);
        checked++;
        if (!existsSync(file)) { broken.push(`${page}: ${target}`); continue; }
        if (anchor !== undefined && file.endsWith(".md") && !headingAnchors(readFileSync(file, "utf8")).has(anchor)) broken.push(`${page}: ${target}`);
      }
    }
    console.log(`documentation links checked: ${checked} in ${pages.length} pages`);
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });
});

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens. */
function headingAnchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#+ (.+)$/gm)) out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-"));
  return out;
}
