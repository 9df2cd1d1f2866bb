/**
 * Counts what one renewer invocation sends, where Workers count it: fetch() calls (the ACME requests)
 * and calls on Durable Object stubs (RPC and fetch: the renewal index, the storage object, the outbox)
 * are subrequests; KV reads and writes are KV operations (a limit of their own). Tracks the most of
 * those open at once. Module state of the one isolate: the bench measures one renewal at a time.
 */
export interface InvocationCounts {
  fetches: number;
  objectCalls: number;
  kvOperations: number;
  /** Most calls (fetch, object, KV) open at once. */
  maxInFlight: number;
}

let counts: InvocationCounts = { fetches: 0, objectCalls: 0, kvOperations: 0, maxInFlight: 0 };
let inFlight = 0;

/** Starts counting afresh; returns what was counted since the last reset. */
export function resetCounts(): InvocationCounts {
  const taken = counts;
  counts = { fetches: 0, objectCalls: 0, kvOperations: 0, maxInFlight: 0 };
  inFlight = 0;
  return taken;
}

/** Counts one call of `kind` and how many are open while it runs. */
export async function counted<T>(kind: "fetches" | "objectCalls" | "kvOperations", call: () => Promise<T>): Promise<T> {
  counts[kind]++;
  inFlight++;
  counts.maxInFlight = Math.max(counts.maxInFlight, inFlight);
  try {
    return await call();
  } finally {
    inFlight--;
  }
}

const wrapMethods = <T extends object>(target: T, kind: "objectCalls" | "kvOperations"): T =>
  new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== "function" || typeof prop === "symbol" || prop === "then") return value;
      // Reflect.apply: an RPC method answers any property (`.apply` would be a remote call).
      return (...args: unknown[]) => counted(kind, () => Promise.resolve(Reflect.apply(value as (...a: unknown[]) => unknown, t, args)));
    },
  });

/** `env` with its Durable Object namespaces' stubs and its KV namespaces counting their calls. */
export function countingEnv<E extends object>(env: E): E {
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value && typeof value === "object" && "idFromName" in value && "get" in value) {
      const ns = value as { get(id: unknown): object };
      wrapped[key] = new Proxy(ns, {
        get(t, prop, receiver) {
          if (prop === "get") return (id: unknown) => wrapMethods(t.get(id), "objectCalls");
          const v = Reflect.get(t, prop, receiver) as unknown;
          return typeof v === "function" ? (...args: unknown[]) => Reflect.apply(v as (...a: unknown[]) => unknown, t, args) : v;
        },
      });
    } else if (value && typeof value === "object" && "getWithMetadata" in value && "put" in value) {
      wrapped[key] = wrapMethods(value as object, "kvOperations");
    } else {
      wrapped[key] = value;
    }
  }
  return wrapped as E;
}

/** Makes the isolate's global fetch count its calls (the ACME client binds the global fetch when it is built). */
export function countGlobalFetch(): void {
  const original = globalThis.fetch.bind(globalThis);
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => counted("fetches", () => original(input, init))) as typeof fetch;
}
