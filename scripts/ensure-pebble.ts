import { execFileSync, spawnSync } from "node:child_process";

/**
 * Makes sure the Debian `pebble` package (pebble + pebble-challtestsrv) is installed: installs it when
 * missing and we are root, otherwise exits with the exact command to run.
 */
export function ensurePebble(): void {
  const have = spawnSync("sh", ["-c", "command -v pebble && command -v pebble-challtestsrv"], { stdio: "ignore" }).status === 0;
  if (have) return;
  if (process.getuid?.() !== 0) {
    console.error("Pebble is not installed. Install it with:\n\n  sudo apt-get update && sudo apt-get install -y pebble\n");
    process.exit(1);
  }
  console.log("Installing Pebble (Debian package 'pebble')…");
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  execFileSync("apt-get", ["install", "-y", "-qq", "pebble"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}
