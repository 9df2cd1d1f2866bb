#!/usr/bin/env node
/**
 * The `edgecert` executable: `npx edgecert`, `deno run -A npm:edgecert`, `bunx edgecert`.
 * @module
 */
import process from "node:process";
import { runCli } from "./cli.ts";
import { ExitCode } from "./exit-codes.ts";

// Ctrl-C / SIGTERM: abort the work; challenges are still cleaned up and the lock released.
const interrupt = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => interrupt.abort(new Error(`interrupted by ${sig}`)));
const finished = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
  ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
  env: process.env,
}, interrupt.signal);
const code = interrupt.signal.aborted ? ExitCode.interrupted : finished;
// Let stdout/stderr drain, then end even if a keep-alive socket lingers.
process.exitCode = code;
const done = () => process.exit(code);
if (process.stdout.writableLength || process.stderr.writableLength) setTimeout(done, 50);
else done();
