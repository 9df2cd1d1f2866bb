/**
 * The CLI's exit codes, documented in `edgecert --help` and the README. Cron wrappers and scripts
 * branch on these, so they never change meaning.
 */
export const ExitCode = {
  /** Done — including "nothing was due". */
  ok: 0,
  /** An operation failed (CA refused, validation failed, network, storage); the summary says which. */
  failed: 1,
  /** Bad command line or configuration (unknown flag, missing `--agree-tos`, unreadable file). */
  usage: 2,
  /** The certificate was obtained and written, but the deploy hook failed. */
  hookFailed: 3,
  /** Interrupted (SIGINT/SIGTERM); challenges were cleaned up. */
  interrupted: 130,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line and exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.usage, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
