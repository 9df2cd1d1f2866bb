import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { WORKER_BUILD_OPTIONS } from "../../scripts/bundle-worker.ts";
import { PACKED_PUBLIC_SUFFIXES } from "../../src/budget/public-suffix-data.ts";
import { WRANGLER_CONFIG } from "../support/worker.ts";

// Issue 24: the Worker's script, as `wrangler deploy` uploads it, does not grow past 124 KiB gzip
// unnoticed (a smaller script is parsed and evaluated sooner on every cold start; Workers Free caps
// scripts at 3 MB). The 110 KB is not met: 115.8 KiB (118.6 KB) on 2026-12-06, of which the
// ASN.1 packages the project builds on (@peculiar/asn1-* with asn1js), narrowed to the modules the
// Worker uses (workers/asn1/), are about 27 KB — see docs/performance.md "Bundle"; before the
// narrowing 121.2 KiB. The bundle is deterministic, so this is a size assertion, not a timing one:
// esbuild in-process, ~1 s. The narrowing reached 116.6 KiB; the same day's issue-26 features (bounded
// listings, the queue's cursor and estimates, bulk add and parked orders, budget checks) brought it to
// 120.7 KiB (123,638 B), and the limit keeps ~1.3 KB of room above that so one small feature does not
// turn CI red. Raise it only with the growth named in the commit: 123 KiB since the index's fair claim of first
// issuances (issue 26: registered domain and turn per entry, per-domain pending counts; +988 B, main was 5 B under); 124 KiB
// since the CA budget queue's room is reserved per chunk (+87 B: CaBudgetQueue.room/reserve/release, renewChunk's give-back;
// main was 46 B under). `npm run bench`
// prints the same figure from `wrangler deploy --dry-run` and the bundle by part. The Public Suffix List (26 KB gzip, both sections) is a static asset beside the script.
const LIMIT_GZIP = 124 * 1024;

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

  it("holds only the modules of @peculiar/asn1-x509 and @peculiar/utils it uses (workers/asn1/, wrangler.toml [alias])", async () => {
    expect(unstable_readConfig({ config: WRANGLER_CONFIG }).alias).toMatchObject({ "@peculiar/asn1-x509": "./workers/asn1/x509.js", "@peculiar/utils": "./workers/asn1/utils.js" });
    const result = await build({ ...WORKER_BUILD_OPTIONS, write: false, metafile: true, outfile: "worker.js" });
    const used = Object.entries(Object.values(result.metafile.outputs)[0]!.inputs)
      .filter(([, { bytesInOutput }]) => bytesInOutput > 0)
      .map(([path]) => path);
    const x509 = used.filter((p) => p.includes("@peculiar/asn1-x509/")).map((p) => p.replace(/^.*build\/es2015\//, ""));
    // Two of the package's 25 extension classes (SAN and AKI) and none of its CRL structures.
    expect(x509.filter((p) => p.startsWith("extensions/")).sort()).toEqual(["extensions/authority_key_identifier.js", "extensions/subject_alternative_name.js"]);
    expect(x509.filter((p) => /crl|cert_list|certificate_list/.test(p))).toEqual([]);
    // @peculiar/utils: byte helpers and the hex codec asn1-x509 imports; no PEM, converter registry or legacy API.
    expect(used.filter((p) => /@peculiar\/utils\/.*\/(pem|converters|legacy)\//.test(p))).toEqual([]);
  });

  it("narrows the ASN.1 packages to modules that export every name src/ and the packages import from them", async () => {
    const require = createRequire(import.meta.url);
    const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
    /** Every file under `dir` ending in `ext`. */
    const files = (dir: string, ext: string): string[] =>
      readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(ext))
        .map((f) => join(dir, f));
    /** The names imported from `specifier` (exactly that path) by the given files. */
    const importedNames = (paths: string[], specifier: string) =>
      new Set(
        paths.flatMap((path) =>
          [...readFileSync(path, "utf8").matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"([^"]+)"/g)]
            .filter((m) => m[2] === specifier && !/^import\s*type/.test(m[0]))
            .flatMap((m) => m[1]!.split(",").map((n) => n.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!).filter(Boolean)),
        ),
      );
    /** What a narrowed module exports, as esbuild bundles it. */
    const exportsOf = async (file: string) => {
      const { metafile } = await build({ ...WORKER_BUILD_OPTIONS, entryPoints: [fileURLToPath(new URL(`../../workers/asn1/${file}`, import.meta.url))], plugins: [], write: false, metafile: true, outfile: "narrowed.js" });
      return new Set(Object.values((metafile as Metafile).outputs)[0]!.exports);
    };
    const [x509Exports, utilsExports] = await Promise.all([exportsOf("x509.js"), exportsOf("utils.js")]);
    const src = files(fileURLToPath(new URL("../../src", import.meta.url)), ".ts");
    const x509Users = [...src, ...files(join(packageDir("@peculiar/asn1-csr"), "build/es2015"), ".js")];
    const x509Names = importedNames(x509Users, "@peculiar/asn1-x509");
    expect(x509Names.size).toBeGreaterThan(15);
    expect([...x509Names].filter((n) => !x509Exports.has(n))).toEqual([]);
    const utilsUsers = [...src, ...files(join(packageDir("@peculiar/asn1-schema"), "build/es2015"), ".js"), ...files(join(packageDir("@peculiar/asn1-x509"), "build/es2015"), ".js")];
    const utilsNames = importedNames(utilsUsers, "@peculiar/utils");
    expect(utilsNames).toEqual(new Set(["isBufferSource", "toArrayBuffer"]));
    expect([...utilsNames].filter((n) => !utilsExports.has(n))).toEqual([]);
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
