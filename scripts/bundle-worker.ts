import { build } from "esbuild";
import { fileURLToPath } from "node:url";

/** Bundles the Worker (workers/index.ts) into one ES module, as wrangler would. Returns its path. */
export async function bundleWorker(outfile = fileURLToPath(new URL("../.tmp/worker/index.js", import.meta.url)), minify = false): Promise<string> {
  await build({
    entryPoints: [fileURLToPath(new URL("../workers/index.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    minify,
    outfile,
    logLevel: "error",
  });
  return outfile;
}
