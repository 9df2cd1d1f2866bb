/**
 * The system packages the demo, the bench and the tests run for real (Pebble, openssl, Redis,
 * PostgreSQL, Chromium: see test/support/), found once, up front: installed in one step when that is
 * possible (root on Debian or Ubuntu), otherwise named in one line with the command that installs them.
 * Without this a machine lacking Pebble printed one `spawn pebble-challtestsrv ENOENT` per test file.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { CHROMIUM } from "../test/support/chromium.ts";
import { postgresBinDir } from "../test/support/postgres-server.ts";

/** A Debian package and how to tell it is installed. */
export interface SystemPackage {
  /** The Debian/Ubuntu package name. */
  name: string;
  /** True when what the tests run from it is there. */
  installed(): boolean;
}

/** The path of `command` on `PATH`, or undefined. */
export function commandPath(command: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Pebble alone: what `npm run demo` and `npm run bench` need. */
export const PEBBLE: SystemPackage = {
  name: "pebble",
  installed: () => commandPath("pebble") !== undefined && commandPath("pebble-challtestsrv") !== undefined,
};

/**
 * Everything `npm test` starts or reads: Pebble, openssl as the independent verifier, Redis, PostgreSQL,
 * Chromium, and the Public Suffix List the built-in copy is checked against.
 */
export const TEST_PACKAGES: readonly SystemPackage[] = [
  PEBBLE,
  { name: "openssl", installed: () => commandPath("openssl") !== undefined },
  { name: "redis-server", installed: () => commandPath("redis-server") !== undefined },
  { name: "postgresql", installed: () => postgresBinDir() !== undefined },
  { name: "chromium", installed: () => existsSync(CHROMIUM) },
  { name: "publicsuffix", installed: () => existsSync("/usr/share/publicsuffix/public_suffix_list.dat") },
];

/** What {@link ensureSystemPackages} did. */
export type EnsureResult =
  | { ok: true; installed: string[] }
  | { ok: false; missing: string[]; message: string };

/**
 * Checks `packages`; installs the missing ones with one `apt-get install` when running as root on
 * Debian/Ubuntu (saying so in one line on `log`), and otherwise returns one line naming all of them and
 * the command to run. `EDGECERT_INSTALL_PACKAGES=never` only checks.
 */
export function ensureSystemPackages(packages: readonly SystemPackage[], log: (line: string) => void = (l) => console.log(l)): EnsureResult {
  const missing = packages.filter((p) => !p.installed()).map((p) => p.name);
  if (missing.length === 0) return { ok: true, installed: [] };
  const apt = commandPath("apt-get");
  const canInstall = process.getuid?.() === 0 && apt !== undefined && existsSync("/etc/debian_version") && process.env.EDGECERT_INSTALL_PACKAGES !== "never";
  const command = `apt-get install -y ${missing.join(" ")}`;
  if (canInstall) {
    log(`edgecert: installing the missing system packages ${missing.join(", ")} (${command})…`);
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
      execFileSync(apt, ["update", "-qq"], { stdio: "pipe", env });
      execFileSync(apt, ["install", "-y", "-qq", ...missing], { stdio: "pipe", env });
    } catch (error) {
      const output = String((error as { stderr?: unknown }).stderr ?? error).trim().split("\n").slice(-3).join(" / ");
      return { ok: false, missing, message: `edgecert: could not install ${missing.join(", ")} with \`${command}\`: ${output}` };
    }
    const still = packages.filter((p) => missing.includes(p.name) && !p.installed()).map((p) => p.name);
    if (still.length === 0) return { ok: true, installed: missing };
    return { ok: false, missing: still, message: `edgecert: \`${command}\` ran but ${still.join(", ")} still cannot be found on PATH` };
  }
  const where = existsSync("/etc/debian_version") ? "" : " (Debian/Ubuntu package names; use your system's equivalents)";
  return {
    ok: false,
    missing,
    message: `edgecert: missing system packages: ${missing.join(" ")} — install them with: sudo apt-get update && sudo ${command}${where}`,
  };
}

/** {@link ensureSystemPackages}, then exits with status 1 and its one line on stderr when something is still missing. */
export function ensureSystemPackagesOrExit(packages: readonly SystemPackage[]): void {
  const result = ensureSystemPackages(packages);
  if (result.ok) return;
  console.error(result.message);
  process.exit(1);
}
