/**
 * Lets the HTTP client put a connection back in its pool before the next request is sent.
 *
 * Node's and Bun's fetch (undici) mark a keep-alive socket idle only after the response body has been
 * handed to the caller, one macrotask later. A request sent in the same turn — the next step of an
 * ACME flow always is — finds no idle socket and opens a new connection: a TCP and TLS handshake, one
 * or two extra round trips to a distant CA, per step. Waiting one `setImmediate` turn is enough for
 * the socket to be reused. Runtimes without `setImmediate` (Deno, browsers) pool differently and are
 * not delayed.
 * @module
 */

type ImmediateScheduler = (callback: () => void) => unknown;

const schedule: ImmediateScheduler | undefined = (globalThis as { setImmediate?: ImmediateScheduler }).setImmediate;

/** Resolves after the current macrotask, so a finished response's connection is reusable. */
export function connectionTurn(): Promise<void> | undefined {
  return schedule ? new Promise<void>((resolve) => schedule(resolve)) : undefined;
}
