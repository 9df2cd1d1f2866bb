/**
 * The consumer matrix: our packed tarball, installed into a fresh project, typechecks with zero errors
 * (`skipLibCheck: false`, strict) under the oldest TypeScript we declare (peerDependencies) and the
 * current one × node16 / bundler resolution × ES2022 + @types/node 20, ES2022 + @types/node 24, DOM,
 * @cloudflare/workers-types — plus `deno check`. The root entry is checked without Hono installed.
 * The fixtures carry a `@ts-expect-error` that only holds while our types are not `any`.
 *
 * Also here, because they need the same tarball: what the tarball holds, and dry-run publishes to npm
 * (`--offline`) and JSR (`deno publish --dry-run`, npm packages from node_modules, the registry pointed
 * at a closed port so nothing is fetched).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRuntime } from "../runtimes/runtime-binaries.ts";
import { createConsumerProject, linkPackage, repoRoot, run, type PackResult } from "./consumer-project.ts";

const OFFLINE_REGISTRY = "http://127.0.0.1:9/";

/** The oldest TypeScript and @types/node 24 live in a package of their own, so their bins and types never shadow ours. */
const toolchain = join(repoRoot, "test", "consumers", "toolchain", "node_modules");

const compilers = {
  current: { dir: join(repoRoot, "node_modules", "typescript") },
  oldest: { dir: join(toolchain, "typescript") },
} as const;

/** The environments: which libs and which global type packages a consumer compiles with. */
const environments = {
  "ES2022 + @types/node 20": { lib: ["ES2022"], typeRoot: { node: join(repoRoot, "node_modules", "@types", "node") }, node: true },
  "ES2022 + @types/node 24": { lib: ["ES2022"], typeRoot: { node: join(toolchain, "@types", "node") }, node: true },
  DOM: { lib: ["ES2022", "DOM", "DOM.Iterable"], typeRoot: {}, node: false },
  "@cloudflare/workers-types": {
    lib: ["ES2022"],
    typeRoot: { "workers-types": join(repoRoot, "node_modules", "@cloudflare", "workers-types") },
    node: false,
  },
} as const;
type EnvironmentName = keyof typeof environments;

interface Cell {
  name: string;
  compiler: keyof typeof compilers;
  resolution: "node16" | "bundler";
  environment: EnvironmentName;
  files: string[];
  /** Runs after Hono is linked into the project. */
  withHono: boolean;
}

/**
 * EDGECERT_CONSUMER_MATRIX=full checks every compiler × resolution × environment (16 cells). By default
 * (npm test) a covering half of them: every pair of the three — each environment with both compilers and
 * both resolutions, each compiler with both resolutions — so an error that needs two of them together is
 * still found; one that needs a particular three of them only in the full run. 8 of the 16 tsc runs, each
 * several seconds with skipLibCheck off.
 */
const FULL_MATRIX = process.env.EDGECERT_CONSUMER_MATRIX === "full";

const cells: Cell[] = [];
const environmentNames = Object.keys(environments) as EnvironmentName[];
for (const compiler of ["current", "oldest"] as const) {
  for (const resolution of ["node16", "bundler"] as const) {
    for (const [i, environment] of environmentNames.entries()) {
      // The covering half: current with node16 and oldest with bundler for every other environment,
      // current with bundler and oldest with node16 for the rest.
      const straight = (compiler === "current") === (resolution === "node16");
      if (!FULL_MATRIX && straight !== (i % 2 === 0)) continue;
      const files = ["common.ts", ...(environments[environment].node ? ["node.ts"] : [])];
      cells.push({ name: `${compiler} ${resolution} ${environment}`, compiler, resolution, environment, files, withHono: false });
    }
    // Hono 4.13's own declarations use `Uint8Array<…>`, so `edgecert/hono` needs what Hono needs (TS ≥ 5.7).
    if (compiler === "current") cells.push({
      name: `${compiler} ${resolution} @cloudflare/workers-types + hono`,
      compiler,
      resolution,
      environment: "@cloudflare/workers-types",
      files: ["hono.ts"],
      withHono: true,
    });
  }
}

let dir: string;
let packed: PackResult;
let versions: Record<string, string>;
const results = new Map<string, { errors: string[]; code: number; out: string }>();
let denoResult: { errors: string[]; code: number; out: string } | undefined;

function errorLines(out: string): string[] {
  return out.split("\n").filter((line) => /error\s*TS\d+|TS\d+ \[ERROR\]/.test(line)).map((line) => line.trim());
}

function writeTsconfig(cell: Cell): string {
  const env = environments[cell.environment];
  const roots = join(dir, "type-roots", cell.environment.replace(/[^A-Za-z0-9]+/g, "-"));
  if (!existsSync(roots)) {
    mkdirSync(roots, { recursive: true });
    for (const [name, target] of Object.entries(env.typeRoot)) symlinkSync(target, join(roots, name), "dir");
  }
  const file = `tsconfig.${cell.name.replace(/[^A-Za-z0-9]+/g, "-")}.json`;
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      target: "ES2022",
      module: cell.resolution === "node16" ? "Node16" : "ESNext",
      moduleResolution: cell.resolution,
      lib: env.lib,
      typeRoots: [relative(dir, roots)],
      types: Object.keys(env.typeRoot),
    },
    files: cell.files,
  };
  writeFileSync(join(dir, file), JSON.stringify(config, null, 2));
  return file;
}

/** Runs `tasks` with at most `limit` at once (the CI machine has two cores). */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: limit }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  }));
}

async function check(cell: Cell): Promise<void> {
  const config = writeTsconfig(cell);
  const result = await run(process.execPath, [join(compilers[cell.compiler].dir, "bin", "tsc"), "-p", config], { cwd: dir });
  results.set(cell.name, { ...result, errors: errorLines(result.out) });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgecert-consumer-"));
  packed = await createConsumerProject(dir);
  for (const file of readdirSync(join(import.meta.dirname, "fixtures"))) copyFileSync(join(import.meta.dirname, "fixtures", file), join(dir, file));
  versions = Object.fromEntries(
    Object.entries(compilers).map(([name, c]) => [name, (JSON.parse(readFileSync(join(c.dir, "package.json"), "utf8")) as { version: string }).version]),
  );
  await pool(cells.filter((c) => !c.withHono), 2, check);
  linkPackage(dir, "hono");
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "edgecert-consumer", private: true, type: "module", dependencies: { edgecert: "*", hono: "*" } }, null, 2),
  );
  await pool(cells.filter((c) => c.withHono), 2, check);
  const deno = findRuntime("deno");
  if ("error" in deno) throw new Error(deno.error);
  const denoRun = await run(deno.path, ["check", "--quiet", "common.ts", "deno.ts", "hono.ts"], {
    cwd: dir,
    env: { DENO_DIR: join(dir, ".deno"), NPM_CONFIG_REGISTRY: OFFLINE_REGISTRY },
  });
  denoResult = { ...denoRun, errors: errorLines(denoRun.out) };
  const table = [...results].map(([name, r]) => `  ${name.padEnd(52)} ${r.errors.length} errors`);
  table.push(`  ${"deno check (Deno's TypeScript, npm package)".padEnd(52)} ${denoResult.errors.length} errors`);
  console.log(`consumer matrix (typescript ${versions.current}, oldest ${versions.oldest}; tarball ${packed.size} B packed, ${packed.unpackedSize} B unpacked, ${packed.files.length} files):\n${table.join("\n")}`);
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("consumer matrix: the packed tarball typechecks with zero errors", () => {
  for (const cell of cells) {
    it(cell.name, () => {
      const result = results.get(cell.name)!;
      expect(result.errors).toEqual([]);
      expect(result.out.trim()).toBe("");
      expect(result.code).toBe(0);
    });
  }

  it("deno check (the npm package, Deno's own TypeScript and lib)", () => {
    expect(denoResult!.errors).toEqual([]);
    expect(denoResult!.code, denoResult!.out).toBe(0);
  });
});

describe("the tarball", () => {
  it("holds the build, declarations with maps, sources, LICENSE, README and the docs it links to, and no tests", () => {
    const paths = packed.files.map((f) => f.path);
    for (const file of ["package.json", "LICENSE", "README.md", "docs/README.md", "docs/cli.md", "dist/index.js", "dist/index.d.ts", "dist/index.d.ts.map", "dist/index.js.map", "src/index.ts"]) {
      expect(paths, file).toContain(file);
    }
    // Every subpath export points at a file that is in the tarball.
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { exports: Record<string, string | Record<string, string>> };
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      for (const file of typeof target === "string" ? [target] : Object.values(target)) expect(paths, subpath).toContain(file.replace(/^\.\//, ""));
    }
    expect(paths.filter((p) => p.startsWith("test/") || p.startsWith("workers/") || p.startsWith("node_modules/"))).toEqual([]);
  });

  it("declares Hono and TypeScript as optional peers, with boolean flags (Bun and npm skip them)", () => {
    const pkg = JSON.parse(readFileSync(join(dir, "node_modules", "edgecert", "package.json"), "utf8")) as {
      peerDependenciesMeta: Record<string, { optional: unknown }>;
      repository: unknown;
      homepage: unknown;
      bugs: unknown;
      keywords: unknown[];
    };
    expect(pkg.peerDependenciesMeta.hono?.optional).toBe(true);
    expect(pkg.peerDependenciesMeta.typescript?.optional).toBe(true);
    // The TypeScript floor we declare is the one the matrix runs as "oldest".
    const [major, minor] = versions.oldest!.split(".");
    expect((JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { peerDependencies: Record<string, string> }).peerDependencies.typescript).toBe(`>=${major}.${minor}`);
    expect(pkg.repository).toBeTruthy();
    expect(pkg.homepage).toBeTruthy();
    expect(pkg.bugs).toBeTruthy();
    expect(pkg.keywords.length).toBeGreaterThan(3);
  });

  it("the root entry's declarations reach no Hono type", () => {
    // Also shown by the matrix (Hono is not installed for the root entry's runs); this names the file.
    const dist = join(dir, "node_modules", "edgecert", "dist");
    const offenders = readdirSync(dist, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".d.ts") && !f.startsWith("hono"))
      .filter((f) => /from\s+["']hono["']/.test(readFileSync(join(dist, f), "utf8")));
    expect(offenders).toEqual([]);
  });
});

describe("dry-run publishes, offline", () => {
  it("npm publish --dry-run", { timeout: 180_000 }, async () => {
    // --ignore-scripts: prepack already built dist/ for the tarball above.
    const result = await run("npm", ["publish", "--dry-run", "--ignore-scripts", "--offline"], { cwd: repoRoot, timeoutMs: 120_000 });
    expect(result.out).toMatch(/edgecert@\d+\.\d+\.\d+/);
    expect(result.code, result.out).toBe(0);
  });

  it("deno publish --dry-run (JSR: jsr.json exports and imports, slow-types check)", { timeout: 240_000 }, async () => {
    const deno = findRuntime("deno");
    if ("error" in deno) throw new Error(deno.error);
    const result = await run(deno.path, ["publish", "--dry-run", "--allow-dirty"], {
      cwd: repoRoot,
      env: { DENO_DIR: join(dir, ".deno-publish"), NPM_CONFIG_REGISTRY: OFFLINE_REGISTRY },
      timeoutMs: 180_000,
    });
    expect(result.out).toContain("Dry run complete");
    expect(result.code, result.out).toBe(0);
  });

  it("jsr.json maps every bare import in src to the version package.json pins", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
    };
    const jsr = JSON.parse(readFileSync(join(repoRoot, "jsr.json"), "utf8")) as { imports: Record<string, string> };
    const src = join(repoRoot, "src");
    const bare = new Set<string>();
    for (const file of readdirSync(src, { recursive: true }).map(String).filter((f) => f.endsWith(".ts"))) {
      const text = readFileSync(join(src, file), "utf8");
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s*["']([^"'.][^"']*)["']/gm)) bare.add(m[1]!);
      for (const m of text.matchAll(/^\/\/\/ <reference types="([^"]+)"/gm)) bare.add(m[1]!);
    }
    const missing: string[] = [];
    for (const spec of bare) {
      if (spec.startsWith("node:")) continue;
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
      const typesName = name === "node" ? "@types/node" : name;
      const version = pkg.dependencies[typesName] ?? pkg.peerDependencies[typesName] ?? pkg.devDependencies[typesName];
      if (jsr.imports[name] !== `npm:${typesName}@${version}`) missing.push(`${spec}: jsr.json has ${jsr.imports[name]}, want npm:${typesName}@${version}`);
    }
    expect(missing).toEqual([]);
  });
});
