/// <reference types="node" />
/**
 * `edgecert <command>`: dispatch, the one-line error report, and the exit code. Commands return their
 * exit code; anything they throw is reported here as one actionable line (and the CA's problem
 * document with `--verbose`).
 * @module
 */
import { issueCommand } from "./commands/issue.ts";
import { CliContext, type CliIo } from "./context.ts";
import { errorLine, problemDocument } from "./error-message.ts";
import { CliError, ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { HELP } from "./help.ts";
import { ISSUE_OPTIONS, parse } from "./options.ts";

/** Runs the CLI with `argv` (without the runtime and script) and returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCodeValue> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    const topic = command === "help" && rest[0] && HELP[rest[0]] ? rest[0] : "main";
    io.stdout(`${HELP[topic]}\n`);
    return command === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (command === "--version") {
    io.stdout("edgecert 0.1.0\n");
    return ExitCode.ok;
  }
  let ctx: CliContext | undefined;
  try {
    switch (command) {
      case "issue": {
        const { values, positionals } = parse(command, rest, ISSUE_OPTIONS);
        if (values.help) return help(io, command);
        ctx = new CliContext(io, values);
        return await issueCommand(ctx, values, positionals);
      }
      default:
        throw new CliError(`unknown command ${JSON.stringify(command)}: use issue, renew, list, revoke or account (edgecert --help)`);
    }
  } catch (err) {
    const json = argv.includes("--json");
    const line = errorLine(err);
    const exitCode = err instanceof CliError ? err.exitCode : ExitCode.failed;
    if (json) io.stdout(`${JSON.stringify({ ok: false, command, error: line, problem: problemDocument(err) ?? null, requests: ctx?.requests ?? 0 })}\n`);
    else {
      io.stderr(`edgecert: ${line}\n`);
      const doc = argv.includes("--verbose") || argv.includes("-v") ? problemDocument(err) : undefined;
      if (doc) io.stderr(`${doc}\n`);
    }
    return exitCode;
  } finally {
    ctx?.view.close();
  }
}

function help(io: CliIo, command: string): ExitCodeValue {
  io.stdout(`${HELP[command]}\n`);
  return ExitCode.ok;
}
