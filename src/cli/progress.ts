/**
 * What the user sees while a command runs. One event model, three views:
 * - a TTY: a live table, one row per name, with each step's mark and the elapsed time, redrawn in place;
 * - not a TTY (cron, CI, pipes): one timestamped line per step;
 * - `--json` / `--quiet`: nothing while running (the result is printed at the end).
 * Everything goes to stderr, so stdout carries only results.
 * @module
 */

/** Steps of one certificate, in order. Per-name steps: authorization, validation. */
export const STEPS = ["authorization", "validation", "finalize", "download"] as const;
/** One step of {@link STEPS}. */
export type Step = (typeof STEPS)[number];

/** What happened, for one certificate (`cert`) and possibly one of its names. */
export type ProgressEvent =
  | { type: "start"; cert: string; names: string[]; action: string }
  | { type: "step"; cert: string; step: Step; name?: string; detail?: string }
  | { type: "step-done"; cert: string; step: Step; name?: string }
  | { type: "note"; cert: string; message: string }
  | { type: "end"; cert: string; ok: boolean; message: string };

/** Renders {@link ProgressEvent}s. */
export interface ProgressView {
  event(event: ProgressEvent): void;
  /** Final redraw; leaves the terminal as it was (cursor shown). */
  close(): void;
}

/** Where a view writes, and what it can do there. */
export interface ProgressOutput {
  write(text: string): void;
  /** Terminal width in columns, when known. */
  columns?: number;
}

/** A view that shows nothing. */
export const silentView: ProgressView = { event() {}, close() {} };

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** One line per event: `2026-12-02T06:50:01.123Z example.com authorization www.example.com http-01`. */
export function lineView(out: ProgressOutput, now: () => number = Date.now): ProgressView {
  const started = new Map<string, number>();
  const names = new Map<string, Set<string>>();
  return {
    event(e) {
      if (e.type === "start") {
        started.set(e.cert, now());
        names.set(e.cert, new Set(e.names));
      }
      // Events for a name the certificate does not have (a wildcard's base name) say nothing new.
      if ((e.type === "step" || e.type === "step-done") && e.name && !names.get(e.cert)?.has(e.name)) return;
      const elapsed = seconds(now() - (started.get(e.cert) ?? now()));
      const stamp = new Date(now()).toISOString();
      const text =
        e.type === "start"
          ? `${e.action} ${e.names.join(" ")}`
          : e.type === "step"
            ? `${e.step}${e.name ? ` ${e.name}` : ""}${e.detail ? ` ${e.detail}` : ""}`
            : e.type === "step-done"
              ? `${e.step} done${e.name ? ` ${e.name}` : ""}`
              : e.type === "note"
                ? e.message
                : `${e.ok ? "ok" : "FAILED"}${e.message ? `: ${e.message}` : ""}`;
      out.write(`${stamp} ${e.cert} ${text} (${elapsed})\n`);
    },
    close() {},
  };
}

type Mark = "pending" | "running" | "done" | "failed";
interface Row {
  name: string;
  marks: Record<Step, Mark>;
  detail: string;
}
interface Block {
  cert: string;
  action: string;
  rows: Row[];
  started: number;
  ended?: number;
  ok?: boolean;
  message?: string;
  notes: string[];
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const ESC = "\x1b[";

/**
 * The live view for a terminal: a block per certificate, a row per name with its four steps, redrawn
 * in place (cursor up + clear line) on every event and every 100 ms for the clock. Only the current
 * block is redrawn; finished blocks stay on screen as they ended.
 */
export function ttyView(out: ProgressOutput, now: () => number = Date.now, tickMs = 100): ProgressView {
  let block: Block | undefined;
  let drawn = 0;
  let frame = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  out.write(`${ESC}?25l`); // hide the cursor while redrawing

  const markText = (m: Mark) => (m === "done" ? "✓" : m === "failed" ? "✗" : m === "running" ? (SPINNER[frame % SPINNER.length] ?? "*") : "·");
  const clip = (s: string) => (out.columns && s.length > out.columns - 1 ? `${s.slice(0, Math.max(10, out.columns - 2))}…` : s);

  const render = (): string[] => {
    if (!block) return [];
    const elapsed = seconds((block.ended ?? now()) - block.started);
    const head = block.ended === undefined ? SPINNER[frame % SPINNER.length] : block.ok ? "✓" : "✗";
    const lines = [`${head} ${block.action} ${block.cert}  ${elapsed}`];
    const width = Math.max(...block.rows.map((r) => r.name.length), 4);
    for (const row of block.rows) {
      const steps = STEPS.map((s) => `${markText(row.marks[s])} ${s}`).join("  ");
      lines.push(`  ${row.name.padEnd(width)}  ${steps}${row.detail ? `  ${row.detail}` : ""}`);
    }
    for (const note of block.notes) lines.push(`  ${note}`);
    if (block.message) lines.push(`  ${block.message}`);
    return lines.map(clip);
  };

  const draw = () => {
    const lines = render();
    let text = drawn > 0 ? `${ESC}${drawn}A\r` : "";
    for (const line of lines) text += `${ESC}2K${line}\n`;
    // Fewer lines than before (cannot happen today, but never leave stale rows behind).
    for (let i = lines.length; i < drawn; i++) text += `${ESC}2K\n`;
    out.write(text);
    drawn = Math.max(lines.length, drawn);
  };

  const rowsFor = (e: { name?: string }): Row[] => (block ? (e.name ? block.rows.filter((r) => r.name === e.name) : block.rows) : []);

  return {
    event(e) {
      if (closed) return;
      if (e.type === "start") {
        if (block) drawn = 0; // the previous block stays as drawn
        block = {
          cert: e.cert,
          action: e.action,
          started: now(),
          notes: [],
          rows: e.names.map((name) => ({ name, detail: "", marks: { authorization: "pending", validation: "pending", finalize: "pending", download: "pending" } })),
        };
        timer ??= setInterval(() => {
          frame++;
          if (block && block.ended === undefined) draw();
        }, tickMs);
        // The clock alone must not keep the process alive.
        (timer as { unref?: () => void }).unref?.();
      } else if (!block || (e.type === "note" && (block.ended !== undefined || block.cert !== e.cert))) {
        // A note before its certificate's block (waiting for the CA's limits): a line of its own.
        if (e.type === "note") {
          out.write(`${e.cert}: ${e.message}\n`);
          drawn = 0;
        }
        return;
      } else if (e.type === "step") {
        for (const row of rowsFor(e)) {
          const index = STEPS.indexOf(e.step);
          // A later step means the earlier ones are done (e.g. authorization reused by the CA).
          for (const s of STEPS.slice(0, index)) if (row.marks[s] !== "failed") row.marks[s] = "done";
          row.marks[e.step] = "running";
          if (e.detail) row.detail = e.detail;
        }
      } else if (e.type === "step-done") {
        for (const row of rowsFor(e)) row.marks[e.step] = "done";
      } else if (e.type === "note") {
        block.notes.push(e.message);
      } else {
        block.ended = now();
        block.ok = e.ok;
        block.message = e.message;
        for (const row of block.rows) {
          for (const s of STEPS) {
            if (e.ok) row.marks[s] = "done";
            else if (row.marks[s] === "running") row.marks[s] = "failed";
          }
        }
      }
      draw();
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      if (block && drawn > 0) draw();
      out.write(`${ESC}?25h`);
    },
  };
}
