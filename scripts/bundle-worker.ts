import { build, type BuildOptions } from "esbuild";
import { fileURLToPath } from "node:url";

/**
 * How wrangler bundles the Worker for `wrangler deploy` with this repository's wrangler.toml (minify = true,
 * keep_names = false; workerd's conditions, ES2022): what the Worker tests run, what the bundle-size test
 * weighs and what `npm run bench` splits into parts.
 */
export const WORKER_BUILD_OPTIONS = {
  entryPoints: [fileURLToPath(new URL("../workers/index.ts", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["cloudflare:*", "node:*"],
  minify: true,
  keepNames: false,
  logLevel: "error",
} as const satisfies BuildOptions;

/** Bundles the Worker (workers/index.ts) into one ES module, as wrangler deploys it. Returns its path. */
export async function bundleWorker(outfile = fileURLToPath(new URL("../.tmp/worker/index.js", import.meta.url))): Promise<string> {
  await build({ ...WORKER_BUILD_OPTIONS, outfile });
  return outfile;
}
