/**
 * What the Deno and Bun smoke scripts share: which runtime this is, the test bed's coordinates (set
 * by `runtimes.test.ts` in the environment), a `fetch` that trusts Pebble's HTTPS certificate, and a
 * plain-HTTP server. Deno's and Bun's APIs are declared structurally here so `tsc` (Node types)
 * checks these scripts too.
 */
import { readFileSync } from "node:fs";
import process from "node:process";

/** The slice of `Deno` the scripts use. */
interface DenoLike {
  createHttpClient(options: { caCerts: string[] }): unknown;
  serve(
    options: { port: number; hostname: string; onListen?: () => void; signal?: AbortSignal },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
}

/** The slice of `Bun` the scripts use. */
interface BunLike {
  version: string;
  serve(options: { port: number; hostname: string; fetch: (request: Request) => Response | Promise<Response> }): { stop(force?: boolean): unknown };
}

const deno = (globalThis as { Deno?: DenoLike }).Deno;
const bun = (globalThis as { Bun?: BunLike }).Bun;

export type RuntimeName = "deno" | "bun";

/** The runtime running this script; anything else is a mistake in the test setup. */
export const runtime: RuntimeName = deno ? "deno" : bun ? "bun" : fail("neither Deno nor Bun");

/** The runtime's version string, for the report. */
export const runtimeVersion = deno
  ? (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno
  : bun!.version;

function fail(message: string): never {
  throw new Error(`runtime smoke: ${message}`);
}

function env(name: string): string {
  return process.env[name] ?? fail(`${name} is not set`);
}

/** The test bed, from the environment. */
export const testBed = {
  directoryUrl: env("EDGECERT_DIRECTORY_URL"),
  /** Pebble's own HTTPS (listen) CA. */
  caPem: readFileSync(env("EDGECERT_CA_FILE"), "utf8"),
  /** The root that issues certificates. */
  rootPem: readFileSync(env("EDGECERT_ROOT_FILE"), "utf8"),
  /** The port Pebble's validator connects to for http-01. */
  httpPort: Number(env("EDGECERT_HTTP_PORT")),
  /** A tag making this run's names unique. */
  tag: env("EDGECERT_TAG"),
};

/** A `fetch` that trusts Pebble's HTTPS certificate, the way each runtime does it. */
export function trustingFetch(caPem: string): typeof fetch {
  if (deno) {
    const client = deno.createHttpClient({ caCerts: [caPem] });
    return ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
  }
  return ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, tls: { ca: caPem } } as RequestInit)) as typeof fetch;
}

/** A plain-HTTP server on 127.0.0.1 (for http-01 in the core smoke test). */
export function servePlainHttp(port: number, handler: (request: Request) => Response | Promise<Response>): { stop(): Promise<void> } {
  if (deno) {
    const server = deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, handler);
    return { stop: () => server.shutdown() };
  }
  const server = bun!.serve({ port, hostname: "127.0.0.1", fetch: handler });
  return { stop: async () => void (await server.stop(true)) };
}

/** One line of the report the Node test reads: JSON, marked so other output cannot be mistaken for it. */
export function report(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ edgecert: "runtime-smoke", runtime, ...fields }));
}

/** Fails the script with a message when `condition` is false. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}
