import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { WORKER_BUILD_OPTIONS } from "../../scripts/bundle-worker.ts";
import { PACKED_PUBLIC_SUFFIXES } from "../../src/budget/public-suffix-data.ts";
import { WRANGLER_CONFIG } from "../support/worker.ts";

// Issue 24: the Worker's script, as `wrangler deploy` uploads it, does not grow past 125 KiB gzip
// unnoticed (a smaller script is parsed and evaluated sooner on every cold start; Workers Free caps
// scripts at 3 MB). The 110 KB is not met: 120 KiB on 2026-12-06, of which the ASN.1 packages
// the project builds on (@peculiar/asn1-* with asn1js) are about 31 KB — see docs/performance.md
// "Bundle". The bundle is deterministic, so this is a size assertion, not a timing one: esbuild
// in-process, ~1 s. `npm run bench` prints the same figure from `wrangler deploy --dry-run` and the
// bundle by part. The Public Suffix List (17 KB gzip) is a static asset beside the script.
const LIMIT_GZIP = 125 * 1024;

describe("the Worker bundle", () => {
  it("is deployed as it is measured: minified, without keep_names wrappers", () => {
    const config = unstable_readConfig({ config: WRANGLER_CONFIG });
    expect(config.minify).toBe(true);
    expect(config.keep_names).toBe(false);
  });

  it(`is at most ${LIMIT_GZIP / 1024} KB gzip, minified as wrangler deploys it`, async () => {
    const result = await build({ ...WORKER_BUILD_OPTIONS, write: false, metafile: true, outfile: "worker.js" });
    const script = result.outputFiles[0]!.contents;
    const gzip = gzipSync(script, { level: 9 }).length;
    // What to look at when it fails: the largest inputs, minified bytes each.
    const inputs = Object.entries(Object.values(result.metafile.outputs)[0]!.inputs)
      .sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput)
      .slice(0, 12)
      .map(([path, { bytesInOutput }]) => `${path.replace(/^.*node_modules\//, "")} ${bytesInOutput}`);
    console.log(`Worker bundle: ${script.length} B minified, ${gzip} B gzip (limit ${LIMIT_GZIP}); largest inputs: ${inputs.join(", ")}`);
    expect(gzip, inputs.join("\n")).toBeLessThanOrEqual(LIMIT_GZIP);
  });

  it("has no copy of the Public Suffix List: the Worker reads it from its static asset, the same list", async () => {
    const result = await build({ ...WORKER_BUILD_OPTIONS, write: false, metafile: true, outfile: "worker.js" });
    const inputs = Object.keys(Object.values(result.metafile.outputs)[0]!.inputs);
    expect(inputs.filter((p) => p.includes("public-suffix"))).toEqual([expect.stringMatching(/workers\/public-suffix-source\.ts$/)]);
    expect(result.outputFiles[0]!.text).not.toContain(PACKED_PUBLIC_SUFFIXES.slice(0, 200));
    const asset = readFileSync(new URL("../../workers/assets/public-suffixes.txt", import.meta.url), "utf8");
    expect(asset.replace(/^\/\/.*\n/, "")).toBe(PACKED_PUBLIC_SUFFIXES);
    expect(unstable_readConfig({ config: WRANGLER_CONFIG }).assets).toMatchObject({ directory: "workers/assets", binding: "ASSETS", run_worker_first: true });
  });
});
