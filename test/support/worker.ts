import { fileURLToPath } from "node:url";
import { Miniflare, type MiniflareOptions } from "miniflare";
import { Agent, fetch as undiciFetch } from "undici";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { bundleWorker } from "../../scripts/bundle-worker.ts";
import type { PebbleInstance } from "./pebble.ts";
import type { CertificateSummary } from "../../workers/certificate-summary.ts";

let bundled: Promise<string> | undefined;
/** Bundles of other entry modules (a bench's variant of the Worker), by path. */
const variants = new Map<string, Promise<string>>();

/** The Worker's one configuration file. */
export const WRANGLER_CONFIG = fileURLToPath(new URL("../../wrangler.toml", import.meta.url));

/** A running edgecert Worker inside workerd (Miniflare), listening on 127.0.0.1:`port`. */
export interface WorkerInstance {
  url: URL;
  mf: Miniflare;
  /** Admin API call with the bearer token. */
  admin(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  /** Runs the Worker's cron handler at `at` (epoch ms). */
  cron(at: number): Promise<void>;
  /** RPC stub of the renewal index. */
  index(): Promise<IndexStub>;
  stop(): Promise<void>;
}

/** The renewal index's RPC methods used by tests. */
export interface IndexStub {
  count(): Promise<number>;
  upsertMany(entries: unknown[]): Promise<void>;
  get(id: string): Promise<Record<string, unknown> | undefined>;
  lastTick(): Promise<
    | {
        at: number;
        rowsRead: number;
        dispatched: number;
        outcomes: Record<string, number>;
        /** workers/renewal-index.ts InvocationSummary. */
        invocations?: { tick: { subrequests: number; maxInFlight: number }; dispatchers: number; dispatcherMaxSubrequests: number; dispatcherMaxInFlight: number };
      }
    | undefined
  >;
}

/**
 * The ACME server a Worker is pointed at: Pebble, or the stand-in CA where Pebble cannot serve
 * (test/support/worker-stand-in-ca.ts). `httpPort`: where the Worker listens unless told otherwise.
 */
export type WorkerCa = Pick<PebbleInstance, "directoryUrl" | "fetch" | "httpPort">;

/** A token that passes the Worker's strength rule (workers/config.ts checkAdminToken). */
export const ADMIN_TOKEN = "t3st-Adm1n-9f2c41d8e07b5a63c1f4e2d9";

/**
 * Starts the Worker (bundled once per process) with KV, the Durable Objects and the cron trigger,
 * pointed at `pebble`; outbound requests go through Pebble's trusting fetch (workerd does not trust
 * Pebble's CA). `port`: where Pebble's http-01 validator connects (its httpPort).
 */
export async function startWorker(
  pebble: WorkerCa,
  options: {
    port?: number;
    vars?: Record<string, string>;
    persistTo?: string;
    /**
     * Answers an outbound request instead of Pebble when it returns (or resolves to) a response: fault
     * injection, or holding a request back until the test lets it go, to force an interleaving.
     */
    outbound?: (request: Request) => Response | undefined | Promise<Response | undefined>;
    /**
     * false: outbound requests leave workerd itself, which does not trust Pebble's CA (what `wrangler
     * dev` does without NODE_EXTRA_CA_CERTS). Default true: through Pebble's trusting fetch.
     */
    trustPebble?: boolean;
    /** Starts it without wrangler.toml's static assets (and their ASSETS binding): a broken deployment. */
    withoutAssets?: boolean;
    /** A module to run instead of workers/index.ts (a variant of the Worker, same wrangler.toml). */
    entry?: string;
    /** Workers of their own (module source) the Worker reaches through service bindings, by binding name. */
    services?: Record<string, string>;
    /** Durable Object bindings whose class runs without SQLite storage (a bench's stand-in that stores nothing). */
    withoutSqlite?: string[];
  } = {},
): Promise<WorkerInstance> {
  const entry = options.entry;
  if (entry && !variants.has(entry)) variants.set(entry, bundleWorker(fileURLToPath(new URL(`../../.tmp/worker-variants/${entry.replace(/[^A-Za-z0-9]+/g, "_")}.js`, import.meta.url)), entry));
  bundled ??= bundleWorker();
  const scriptPath = await (entry ? variants.get(entry)! : bundled);
  // What is deployed is what is tested: bindings, vars, Durable Objects, compatibility date and flags
  // come from wrangler.toml; only the CA, the token, the test's vars and where it listens are set here.
  const { workerOptions } = unstable_getMiniflareWorkerOptions(WRANGLER_CONFIG);
  if (options.withoutAssets) delete (workerOptions as { assets?: unknown }).assets;
  const durableObjects = Object.fromEntries(
    Object.entries((workerOptions as { durableObjects?: Record<string, object> }).durableObjects ?? {}).map(([binding, o]) => [binding, options.withoutSqlite?.includes(binding) ? { ...o, useSQLite: false } : o]),
  );
  const main = {
    ...(workerOptions as object),
    durableObjects,
    modules: true,
    modulesRules: [],
    scriptPath,
    bindings: { ...workerOptions.bindings, ACME_DIRECTORY_URL: pebble.directoryUrl, ADMIN_TOKEN, ...options.vars },
    ...(options.trustPebble === false ? {} : { outboundService: (async (request: Request) => (await options.outbound?.(request)) ?? pebble.fetch(request)) as never }),
  };
  const shared = { host: "127.0.0.1", port: options.port ?? pebble.httpPort, cf: false, ...(options.persistTo ? { defaultPersistRoot: options.persistTo } : {}) };
  const services = Object.entries(options.services ?? {});
  const mf = new Miniflare(
    (services.length === 0
      ? { ...main, ...shared }
      : {
          ...shared,
          workers: [
            { ...main, serviceBindings: Object.fromEntries(services.map(([binding]) => [binding, binding.toLowerCase()])) },
            ...services.map(([binding, script]) => ({ name: binding.toLowerCase(), modules: true, script, compatibilityDate: (workerOptions as { compatibilityDate?: string }).compatibilityDate })),
          ],
        }) as MiniflareOptions,
  );
  const url = await mf.ready;
  // The admin API on a fresh connection each time: workerd closes a connection after answering a
  // request whose body it did not read (a 400 before the body), and a pooled fetch that reuses it in
  // that moment fails with ECONNRESET (hub-worker, once in a full run at load ~10).
  const direct = new Agent({ pipelining: 0 });
  return {
    url,
    mf,
    admin(path, init = {}) {
      const { token = ADMIN_TOKEN, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null) headers.set("authorization", `Bearer ${token}`);
      if (rest.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
      return undiciFetch(new URL(path, url), { ...(rest as Parameters<typeof undiciFetch>[1]), headers: Object.fromEntries(headers), dispatcher: direct }) as unknown as Promise<Response>;
    },
    async cron(at) {
      const worker = await mf.getWorker();
      await worker.scheduled({ scheduledTime: new Date(at), cron: "* * * * *" });
    },
    async index() {
      const ns = await mf.getDurableObjectNamespace("RENEWAL_INDEX");
      return ns.get(ns.idFromName("index")) as unknown as IndexStub;
    },
    async stop() {
      await direct.close();
      await mf.dispose();
    },
  };
}

/** An admin summary of one certificate: the Worker's own type. */
export type { CertificateSummary } from "../../workers/certificate-summary.ts";

/** Certificate `id` as the admin API shows it (`GET /admin/certificates/:id`). */
export async function certificateSummary(w: WorkerInstance, id: string): Promise<CertificateSummary> {
  return (await (await w.admin(`/admin/certificates/${id}`)).json()) as CertificateSummary;
}

/** The serial number of certificate `id`'s stored certificate, as the admin API shows it. */
export async function certificateSerial(w: WorkerInstance, id: string): Promise<string> {
  return ((await (await w.admin(`/admin/certificates/${id}`)).json()) as { certificate: { serialNumber: string } }).certificate.serialNumber;
}

/**
 * The deployment's one CA budget queue object (workers/ca-budget-queue.ts `budgetQueue`: the instance
 * named "queue"), typed as the RPC methods `T` a test calls — one place for the name, so a test cannot
 * end up asking a fresh, empty object.
 */
export async function budgetQueueStub<T>(w: WorkerInstance): Promise<T> {
  const ns = await w.mf.getDurableObjectNamespace("CA_BUDGET_QUEUE");
  return ns.get(ns.idFromName("queue")) as unknown as T;
}

/**
 * Polls the admin API until certificate `id` is no longer pending (bounded: about 60 s — a CA that
 * cannot be reached is tried 8 times with backoff, about 23 s, before the attempt fails).
 */
export async function settled(w: WorkerInstance, id: string): Promise<CertificateSummary> {
  for (let i = 0; i < 600; i++) {
    const body = await certificateSummary(w, id);
    if (body.status !== "pending") return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`certificate ${id} still pending`);
}

/** A dashboard session made over plain HTTP, as a browser posts the sign-in form. */
export interface DashboardSession {
  /** `edgecert_session=…`, for a `cookie` header. */
  cookie: string;
  /** The session's CSRF token, read from the dashboard page. */
  csrf: string;
  /** The whole `Set-Cookie` of the sign-in. */
  setCookie: string;
}

/** Signs in to the dashboard with `token` (default the tests' admin token); throws unless it is accepted. */
export async function dashboardSignIn(w: WorkerInstance, token = ADMIN_TOKEN): Promise<DashboardSession> {
  const res = await fetch(new URL("/admin/login", w.url), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: w.url.origin },
    body: new URLSearchParams({ token }).toString(),
  });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  const setCookie = res.headers.get("set-cookie")!;
  const cookie = setCookie.split(";")[0]!;
  const html = await (await fetch(new URL("/admin/", w.url), { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!csrf) throw new Error(`no CSRF token on the dashboard: ${html.slice(0, 500)}`);
  return { cookie, csrf, setCookie };
}
