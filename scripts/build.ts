// npm run build (and prepack): dist/ as published.
//
// Types: tsc emits declarations only (dist/**/*.d.ts + maps, one per source file, as the editor sees
// them). Code: esbuild bundles every package.json export and the CLI into ES modules with the
// @peculiar/asn1-* packages inside, split into shared chunks so a class (AcmeProblem, EdgecertError…)
// exists once whichever subpaths an application imports, and `instanceof` holds across them.
//
// Why bundle: those packages are CommonJS with a dozen small dependencies, and Node resolving and
// loading ~200 modules was most of a fresh process's time — `import("edgecert")` cost ~150 ms over
// bare Node, every CLI call and cron `renew` paid it (issue 24; `npm run bench` measures it).
// hono stays external (an optional peer: the application's own copy is the one to use), as do
// node:* and the runtimes' built-ins.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The source file of every published entry: each `exports` target and each `bin`. */
export function entrySources(pkg: { exports: Record<string, unknown>; bin: Record<string, string> }): string[] {
  const targets = Object.values(pkg.exports).map((t) => (typeof t === "string" ? t : (t as { default: string }).default));
  return [...targets, ...Object.values(pkg.bin)]
    .filter((t) => t.startsWith("./dist/") && t.endsWith(".js"))
    .map((t) => t.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts"));
}

/** Builds dist/ from src/. */
export async function buildDist(): Promise<void> {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { exports: Record<string, unknown>; bin: Record<string, string> };
  rmSync(`${root}dist`, { recursive: true, force: true });
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}tsconfig.build.json`, "--emitDeclarationOnly"], { stdio: "inherit" });
  await build({
    absWorkingDir: root,
    entryPoints: entrySources(pkg),
    outdir: "dist",
    outbase: "src",
    bundle: true,
    splitting: true,
    format: "esm",
    // Neutral, not node: the same files run in Deno, Bun and bundlers for workerd.
    platform: "neutral",
    mainFields: ["module", "main"],
    target: "es2022",
    external: ["hono", "hono/*", "node:*", "bun", "cloudflare:*"],
    chunkNames: "chunks/[name]-[hash]",
    sourcemap: true,
    // Keep class and function names: errors and logs name them.
    keepNames: true,
    legalComments: "eof",
    logLevel: "warning",
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildDist();
