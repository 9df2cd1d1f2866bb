import { build, type BuildOptions, type Plugin } from "esbuild";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * wrangler.toml's `[alias]` table: import paths wrangler's bundler replaces, exactly as written, by a
 * file of the project (the Worker's Public Suffix List source). Read through wrangler itself, so the
 * tests bundle what `wrangler deploy` bundles.
 */
export function wranglerAliases(): Record<string, string> {
  return unstable_readConfig({ config: `${root}wrangler.toml` }).alias ?? {};
}

/** wrangler's alias plugin: an import whose path is a key resolves to the file it names. */
function aliasPlugin(aliases: Record<string, string>): Plugin {
  return {
    name: "wrangler-alias",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => (aliases[args.path] ? { path: fileURLToPath(new URL(aliases[args.path]!, `file://${root}`)) } : undefined));
    },
  };
}

/**
 * How wrangler bundles the Worker for `wrangler deploy` with this repository's wrangler.toml (minify = true,
 * keep_names = false, its `[alias]`; workerd's conditions, ES2022): what the Worker tests run, what the
 * bundle-size test weighs and what `npm run bench` splits into parts.
 */
export const WORKER_BUILD_OPTIONS = {
  entryPoints: [`${root}workers/index.ts`],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["cloudflare:*", "node:*"],
  minify: true,
  keepNames: false,
  plugins: [aliasPlugin(wranglerAliases())],
  logLevel: "error",
} as const satisfies BuildOptions;

/**
 * Bundles the Worker (workers/index.ts, or another `entry` module such as a bench's variant of it) into
 * one ES module, as wrangler deploys it. Returns its path.
 */
export async function bundleWorker(outfile = fileURLToPath(new URL("../.tmp/worker/index.js", import.meta.url)), entry?: string): Promise<string> {
  await build({ ...WORKER_BUILD_OPTIONS, ...(entry ? { entryPoints: [entry] } : {}), outfile });
  return outfile;
}
