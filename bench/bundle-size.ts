import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

/** Minified and gzip sizes in bytes. */
export interface Size {
  min: number;
  gzip: number;
}

const sizeOf = (file: string): Size => {
  const bytes = readFileSync(file);
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
};

async function bundle(entry: string, outfile: string): Promise<Size> {
  await build({ entryPoints: [entry], bundle: true, minify: true, format: "esm", platform: "neutral", mainFields: ["module", "main"], conditions: ["workerd", "worker", "browser"], external: ["cloudflare:*", "node:*"], outfile, logLevel: "error" });
  return sizeOf(outfile);
}

/**
 * The Worker as `wrangler deploy --dry-run --minify` bundles it, the root export as esbuild bundles
 * it, and the floor: the three `@peculiar/asn1-*` packages + hono alone (everything they export).
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
  const floor = await bundle(".tmp/bench/floor-entry.ts", ".tmp/bench/floor.js");
  return { worker, root, floor };
}
