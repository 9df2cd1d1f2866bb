/**
 * Before `npm test` (its `pretest` script) and before any `vitest run` (the config's globalSetup): the
 * system packages the suite starts are found once, up front, and either installed in one step or named
 * in one line with the install command, and the run stops there instead of failing file by file.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TEST_PACKAGES, ensureSystemPackagesOrExit } from "./system-packages.ts";

/** Exits the process with status 1 and one line on stderr when a package the tests need is missing. */
export default function testPreflight(): void {
  ensureSystemPackagesOrExit(TEST_PACKAGES);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) testPreflight();
