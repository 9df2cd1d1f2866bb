import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

// Offline: no metrics, error reports or cf-object fetches from wrangler/miniflare: the tests must run with no network beyond 127.0.0.1.
process.env.WRANGLER_SEND_METRICS ??= "false";
process.env.WRANGLER_SEND_ERROR_REPORTS ??= "false";
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";

export default defineConfig({
  test: {
    // Pebble, openssl, Redis, PostgreSQL and Chromium found (or installed) once, before any test file.
    // Then an id for the run (test/support/test-run.ts): the tarball is packed once a run.
    globalSetup: ["./scripts/test-preflight.ts", "./test/support/test-run.ts"],
    testTimeout: 60_000,
    // Hooks start and stop real servers (Pebble, Redis, PostgreSQL, workerd): generous for a loaded machine.
    hookTimeout: 120_000,
    // Three test files at once on two cores: much of a file's time is waiting on Pebble, workerd or a
    // database, not CPU (the suite's CPU is ~380 s). Quiet 2-core machine: 238 s (317 s with 2);
    // beside two CPU hogs: 345 s, green (2026-12-06).
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/storage/workers/**", "**/node_modules/**"],
        },
      },
      {
        // Storage backends for Workers (KV, R2, Durable Object), run inside workerd.
        extends: true,
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./test/storage/workers/wrangler.jsonc" },
            // EDGECERT_STORAGE_SEED replays the storage conformance's seeded cases inside workerd too.
            miniflare: { cf: false, bindings: { EDGECERT_STORAGE_SEED: process.env.EDGECERT_STORAGE_SEED ?? "" } },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/storage/workers/**/*.test.ts"],
        },
      },
    ],
  },
});
