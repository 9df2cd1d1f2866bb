/**
 * Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol with a small
 * client of our own (undici's WebSocket): enough to load pages, fill and submit forms, read the DOM
 * and take screenshots. One browser per call to {@link startChromium}, with a throw-away profile.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "undici";

/** The Chromium binary: `CHROMIUM` or Debian's path. */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** One page (tab) of a running Chromium. */
export interface CdpPage {
  /** Sends a CDP command and resolves with its result. */
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Navigates and waits (bounded) for the load event. */
  goto(url: string): Promise<void>;
  /** Evaluates `expression` in the page; returns its JSON value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Runs `expression` (which submits a form or clicks) and waits for the next load event. */
  submitting(expression: string): Promise<void>;
  /** PNG screenshot of the viewport. */
  screenshot(): Promise<Buffer>;
}

/** A running headless Chromium. */
export interface Chromium {
  newPage(): Promise<CdpPage>;
  stop(): Promise<void>;
}

const WAIT_MS = 60_000;

/** Starts headless Chromium on a free debugging port (read from its "DevTools listening" line). */
export async function startChromium(): Promise<Chromium> {
  const profile = await mkdtemp(join(tmpdir(), "edgecert-chromium-"));
  const child = spawn(
    CHROMIUM,
    ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "--window-size=1280,900", "about:blank"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const browserWs = await new Promise<string>((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), WAIT_MS);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => reject(new Error(`chromium exited ${code}:\n${err}`)));
  });
  const http = new URL(browserWs.replace(/^ws/, "http")).origin;
  return {
    async newPage() {
      const res = await fetch(`${http}/json/new?about:blank`, { method: "PUT" });
      const { webSocketDebuggerUrl } = (await res.json()) as { webSocketDebuggerUrl: string };
      return connectPage(webSocketDebuggerUrl);
    },
    async stop() {
      await stopProcess(child);
      // Chromium's helper processes can still write into the profile just after the browser exits
      // (ENOTEMPTY seen in a loaded full run): retry, and leave a temp folder behind rather than fail.
      await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch((err: unknown) => console.warn(`chromium profile ${profile} left behind: ${String(err)}`));
    },
  };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

async function connectPage(url: string): Promise<CdpPage> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(method: string) => void>();
  ws.addEventListener("message", (event) => {
    const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string };
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message));
      else p?.resolve(msg.result);
    } else if (msg.method) for (const l of listeners) l(msg.method);
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  const loaded = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("page did not load")), WAIT_MS);
      const on = (method: string) => {
        if (method !== "Page.loadEventFired") return;
        listeners.delete(on);
        clearTimeout(timer);
        resolve();
      };
      listeners.add(on);
    });
  await send("Page.enable");
  await send("Runtime.enable");
  const evaluate = async <T>(expression: string) => {
    const r = await send<{ result: { value?: T }; exceptionDetails?: { text: string } }>("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  };
  return {
    send,
    evaluate,
    async goto(target) {
      const load = loaded();
      await send("Page.navigate", { url: target });
      await load;
    },
    async submitting(expression) {
      const load = loaded();
      await evaluate(expression);
      await load;
    },
    async screenshot() {
      const { data } = await send<{ data: string }>("Page.captureScreenshot", { format: "png" });
      return Buffer.from(data, "base64");
    },
  };
}
