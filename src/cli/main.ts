#!/usr/bin/env node
/**
 * The `edgecert` executable: `npx edgecert`, `deno run -A npm:edgecert`, `bunx edgecert`.
 * @module
 */
import process from "node:process";
import { runCli } from "./cli.ts";

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
  ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
  env: process.env,
});
// Let stdout/stderr drain, then end even if a keep-alive socket lingers.
process.exitCode = code;
const done = () => process.exit(code);
if (process.stdout.writableLength || process.stderr.writableLength) setTimeout(done, 50);
else done();
