/// <reference types="node" />
/**
 * Runs user commands (`--deploy-hook`, `--dns-exec`) through `/bin/sh -c`, as certbot and lego do, so
 * a hook may be a pipeline or `systemctl reload nginx`. Hook output goes to stderr (stdout stays
 * clean for `--json`); a hook that runs too long is killed.
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { CliError, ExitCode } from "./exit-codes.ts";

/** How one hook run ended. */
export interface HookResult {
  code: number | null;
  /** The last lines the hook printed (for error messages). */
  tail: string;
}

/** Options for {@link runShell}. */
export interface RunShellOptions {
  /** Extra environment for the hook (merged over the CLI's environment). */
  env: Record<string, string>;
  /** Positional arguments after the command (`$1`, `$2`, … in the shell). */
  args?: string[];
  timeoutMs: number;
  /** Where the hook's output goes (default: this process's stderr). */
  output?: (chunk: string) => void;
  signal?: AbortSignal;
}

/** Runs `command` through `/bin/sh -c`; resolves with its exit code (null when killed). */
export function runShell(command: string, options: RunShellOptions): Promise<HookResult> {
  return new Promise((resolve, reject) => {
    // `sh -c 'cmd "$@"' edgecert a b`: the args reach the command as $1, $2 — never re-parsed by the shell.
    const script = options.args?.length ? `${command} "$@"` : command;
    const child = spawn("/bin/sh", ["-c", script, "edgecert", ...(options.args ?? [])], {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const write = options.output ?? ((chunk: string) => void process.stderr.write(chunk));
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      tail = (tail + text).slice(-2_000);
      write(text);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const kill = () => child.kill("SIGKILL");
    const timer = setTimeout(kill, options.timeoutMs);
    options.signal?.addEventListener("abort", kill, { once: true });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new CliError(`could not run ${JSON.stringify(command)}: ${err.message}`, ExitCode.failed, { cause: err }));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", kill);
      resolve({ code, tail: tail.trim().split("\n").slice(-3).join(" | ") });
    });
  });
}
