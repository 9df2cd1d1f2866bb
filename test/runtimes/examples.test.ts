import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { findRuntime, startProcess } from "./runtime-binaries.ts";
import { httpsGet } from "./tls-client.ts";

/**
 * The examples as a user runs them — `tsx examples/node.ts`, `bun run examples/bun.ts`,
 * `deno run -A examples/deno.ts` — pointed at a local Pebble through their environment variables
 * (the CA's HTTPS trusted with NODE_EXTRA_CA_CERTS / DENO_CERT), with FileStorage in a temp dir.
 */

const root = join(import.meta.dirname, "..", "..");
let pebble: PebbleInstance;
let dir: string;
let root0: string;

beforeAll(async () => {
  pebble = await startPebble();
  dir = await mkdtemp(join(tmpdir(), "edgecert-examples-"));
  await writeFile(join(dir, "ca.pem"), pebble.caPem);
  root0 = (await pebble.rootsPem())[0]!;
});
afterAll(async () => {
  await pebble?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const binaryFor = (name: "deno" | "bun"): string => {
  const found = findRuntime(name);
  if ("error" in found) throw new Error(found.error);
  return found.path;
};

const runners = {
  node: () => ({ binary: join(root, "node_modules", ".bin", "tsx"), args: ["examples/node.ts"] }),
  bun: () => ({ binary: binaryFor("bun"), args: ["run", "examples/bun.ts"] }),
  deno: () => ({ binary: binaryFor("deno"), args: ["run", "-A", "--no-lock", "examples/deno.ts"] }),
};

describe("examples", () => {
  it("typecheck", async () => {
    const tsc = join(root, "node_modules", ".bin", "tsc");
    const result = await new Promise<{ code: number | null; out: string }>((resolve) =>
      // Incremental (the build info in .tmp/, git-ignored): a rerun rechecks only what changed.
      execFile(tsc, ["-p", "examples/tsconfig.json", "--incremental", "--tsBuildInfoFile", ".tmp/tsbuildinfo/examples.tsbuildinfo"], { cwd: root, timeout: 180_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      ),
    );
    expect(result.out).toBe("");
    expect(result.code).toBe(0);
  });

  for (const runtime of ["node", "bun", "deno"] as const) {
    it(`${runtime}: obtains a certificate from the CA and serves HTTPS`, async () => {
      const names = [`${runtime}.examples.example.test`, `www.${runtime}.examples.example.test`];
      const { binary, args } = runners[runtime]();
      const child = startProcess(binary, args, {
        DOMAINS: names.join(","),
        ACME_DIRECTORY_URL: pebble.directoryUrl,
        EDGECERT_DIR: join(dir, runtime),
        // Node's example also answers tls-alpn-01, so it listens where Pebble validates that.
        HTTPS_PORT: runtime === "node" ? String(pebble.tlsPort) : "0",
        HTTP_PORT: String(pebble.httpPort),
        HOST: "127.0.0.1",
        NODE_EXTRA_CA_CERTS: join(dir, "ca.pem"),
        DENO_CERT: join(dir, "ca.pem"),
      });
      try {
        const [, port] = await child.waitFor(/serving https:\/\/\S+?:(\d+)\//, 30_000);
        for (const serverName of names) {
          const r = await httpsGet({ port: Number(port), serverName, ca: root0 });
          expect(r, child.output()).toMatchObject({ authorized: true, status: 200 });
          expect(r.body).toContain(serverName);
        }
      } finally {
        const code = await child.stop();
        expect(code, child.output()).toBe(0);
      }
    });
  }
});
