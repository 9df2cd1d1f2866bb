/**
 * The static module graph of an ES module file, read from its text: what an import of it loads.
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm;

/** One reached module: the bare specifiers it imports, and the module that reached it first. */
export interface ReachedModule {
  specifiers: string[];
  via: string | undefined;
}

/**
 * Every module reachable from `entry` (an absolute path) through relative imports, static and
 * dynamic, with the bare specifiers each uses. Comments are skipped.
 */
export function reachable(entry: string): Map<string, ReachedModule> {
  const seen = new Map<string, ReachedModule>();
  const queue: Array<{ file: string; via: string | undefined }> = [{ file: entry, via: undefined }];
  for (let i = 0; i < queue.length && i < 10_000; i++) {
    const { file, via } = queue[i]!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const specifiers: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith(".")) queue.push({ file: resolve(dirname(file), spec), via: file });
      else specifiers.push(spec);
    }
    seen.set(file, { specifiers, via });
  }
  return seen;
}
