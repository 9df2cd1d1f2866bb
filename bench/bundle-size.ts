import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build, type BuildOptions } from "esbuild";
import { WORKER_BUILD_OPTIONS } from "../scripts/bundle-worker.ts";

/** Minified and gzip sizes in bytes. */
export interface Size {
  min: number;
  gzip: number;
}

const sizeOf = (file: string): Size => {
  const bytes = readFileSync(file);
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
};

async function bundle(entry: string, outfile: string, plugins: BuildOptions["plugins"] = []): Promise<Size> {
  await build({ entryPoints: [entry], bundle: true, minify: true, format: "esm", platform: "neutral", mainFields: ["module", "main"], conditions: ["workerd", "worker", "browser"], external: ["cloudflare:*", "node:*"], outfile, logLevel: "error", plugins });
  return sizeOf(outfile);
}

/** One part of the Worker bundle: the minified bytes it adds, and its share of the bundle. */
export interface BundlePart {
  part: string;
  min: number;
  /** Fraction of the minified bundle (gzip compresses the parts about alike; see the total's gzip). */
  share: number;
}

/** Which part of the bundle a source file belongs to: a package, or a folder of ours. */
function partOf(path: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1]!;
  const parts = path.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/**
 * What makes up the Worker bundle, per package and per source folder (esbuild's metafile of the
 * Worker built as wrangler deploys it, scripts/bundle-worker.ts); largest first.
 */
export async function workerParts(): Promise<BundlePart[]> {
  const result = await build({ ...WORKER_BUILD_OPTIONS, write: false, metafile: true, outfile: "worker-parts.js" });
  const output = Object.values(result.metafile.outputs)[0]!;
  const parts = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) parts.set(partOf(path), (parts.get(partOf(path)) ?? 0) + bytesInOutput);
  const total = [...parts.values()].reduce((a, b) => a + b, 0);
  return [...parts]
    .map(([part, min]) => ({ part, min, share: Math.round((min / total) * 1000) / 1000 }))
    .sort((a, b) => b.min - a.min);
}

/**
 * The Worker as `wrangler deploy --dry-run --minify` bundles it, the root export as esbuild bundles
 * it, and the floor: the three `@peculiar/asn1-*` packages + hono alone (everything they export, the
 * packages narrowed by wrangler.toml's `[alias]` as in the Worker: workers/asn1/).
 */
export async function bundleSizes(): Promise<{ worker: Size; root: Size; floor: Size }> {
  mkdirSync(".tmp/bench", { recursive: true });
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--minify", "--outdir", ".tmp/bench/worker"], {
    stdio: "ignore",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  const worker = sizeOf(".tmp/bench/worker/index.js");
  writeFileSync(".tmp/bench/root-entry.ts", 'export * from "../../src/index.ts";\n');
  const root = await bundle(".tmp/bench/root-entry.ts", ".tmp/bench/root.js");
  writeFileSync(
    ".tmp/bench/floor-entry.ts",
    'export * from "@peculiar/asn1-schema";\nexport * from "@peculiar/asn1-x509";\nexport * from "@peculiar/asn1-csr";\nexport { Hono } from "hono";\n',
  );
  const floor = await bundle(".tmp/bench/floor-entry.ts", ".tmp/bench/floor.js", [...WORKER_BUILD_OPTIONS.plugins]);
  return { worker, root, floor };
}
