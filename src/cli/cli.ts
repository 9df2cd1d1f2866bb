/// <reference types="node" />
/**
 * `edgecert <command>`: dispatch, the one-line error report, and the exit code. Commands return their
 * exit code; anything they throw is reported here as one actionable line (and the CA's problem
 * document with `--verbose`).
 * @module
 */
import { accountCommand } from "./commands/account.ts";
import { issueCommand } from "./commands/issue.ts";
import { listCommand } from "./commands/list.ts";
import { PULL_OPTIONS, pullCommand } from "./commands/pull.ts";
import { renewCommand } from "./commands/renew.ts";
import { revokeCommand } from "./commands/revoke.ts";
import { CliContext, type CliIo, type CommonFlags } from "./context.ts";
import { errorLine, problemDocument, type CliOperation } from "./error-message.ts";
import { CliError, ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { HELP } from "./help.ts";
import type { ParseArgsConfig } from "node:util";
import { ACCOUNT_OPTIONS, ISSUE_OPTIONS, LIST_OPTIONS, RENEW_OPTIONS, REVOKE_OPTIONS, parse, type ParsedFlags } from "./options.ts";

/** A command: its flags and what runs it. */
interface CommandEntry {
  options: NonNullable<ParseArgsConfig["options"]>;
  run(ctx: CliContext, values: Record<string, unknown>, positionals: string[]): Promise<ExitCodeValue>;
}

const defineCommand = <T extends NonNullable<ParseArgsConfig["options"]>>(options: T, run: (ctx: CliContext, values: ParsedFlags<T>, positionals: string[]) => Promise<ExitCodeValue>): CommandEntry => ({
  options,
  run: run as unknown as CommandEntry["run"],
});

const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  issue: defineCommand(ISSUE_OPTIONS, issueCommand),
  renew: defineCommand(RENEW_OPTIONS, (ctx, values) => renewCommand(ctx, values)),
  list: defineCommand(LIST_OPTIONS, (ctx) => listCommand(ctx)),
  revoke: defineCommand(REVOKE_OPTIONS, (ctx, values) => revokeCommand(ctx, values)),
  account: defineCommand(ACCOUNT_OPTIONS, accountCommand),
  pull: defineCommand(PULL_OPTIONS, pullCommand),
};

/** Which hints an error of `command` gets: an account or revoke failure never gets an issuance hint. */
function operationOf(command: string): CliOperation {
  return command === "issue" || command === "renew" ? "issuance" : command === "account" ? "account" : command === "revoke" ? "revoke" : "other";
}

/** Runs the CLI with `argv` (without the runtime and script) and returns the exit code. `signal` interrupts it. */
export async function runCli(argv: string[], io: CliIo, signal?: AbortSignal): Promise<ExitCodeValue> {
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
    const entry = COMMANDS[command];
    if (!entry) throw new CliError(`unknown command ${JSON.stringify(command)}: use issue, renew, list, revoke, account or pull (edgecert --help)`);
    const { values, positionals } = parse(command, rest, entry.options);
    if (values.help) {
      io.stdout(`${HELP[command]}\n`);
      return ExitCode.ok;
    }
    ctx = new CliContext(io, values as CommonFlags, signal);
    return await entry.run(ctx, values, positionals);
  } catch (err) {
    const json = argv.includes("--json");
    // The progress view is finished first, so a redraw never lands on the error line.
    ctx?.view.close();
    const line = errorLine(err, [], { operation: operationOf(command), caFile: ctx?.caFile });
    const exitCode = err instanceof CliError ? err.exitCode : signal?.aborted ? ExitCode.interrupted : ExitCode.failed;
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
