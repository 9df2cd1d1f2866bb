import type { Fence, WriteConditions } from "./storage.ts";

/**
 * The requests {@link EdgecertStorageObject} answers and its clients send, over the stub's `fetch`.
 * Values travel as raw bodies; everything else as JSON. Internal: both ends ship in the same release.
 */

/** Base URL of requests to the object (the host is never resolved; a stub needs an absolute URL). */
export const OBJECT_ORIGIN = "https://edgecert-storage.invalid";

/**
 * Request paths. `value` and `kvValue` take `?key=` (and, on PUT and DELETE, the write conditions of
 * {@link conditionParams}); `list` takes `?prefix=&after=&limit=`. `kvValue` is the table of
 * {@link KvStorage}'s authoritative copies, apart from {@link DurableObjectStorage}'s `value` table.
 */
export const Paths = {
  value: "/value",
  kvValue: "/kv-value",
  list: "/list",
  values: "/values",
  lock: "/lock",
  renew: "/renew",
  release: "/release",
} as const;

/** Answer to `GET /list`: keys after `after`, and whether more follow. */
export interface ListAnswer {
  keys: string[];
  more: boolean;
}

/** Body of `POST /values`: keys of the `value` table, at most `MAX_LIST_LIMIT`. */
export interface ValuesRequest {
  keys: string[];
}

/** Answer to `POST /values`: each key's value as base64url, in the request's order; null when absent. */
export interface ValuesAnswer {
  values: Array<string | null>;
}

/** Body of `POST /lock`. */
export interface LockRequest {
  name: string;
  owner: string;
  ttlMs: number;
}

/** Answer to `POST /lock`: the lease's token and expiry, or when the current holder's lease lapses. */
export type LockAnswer = { acquired: true; token: number; expiresAt: number } | { acquired: false; heldUntil: number };

/** Body of `POST /renew`. */
export interface RenewRequest {
  name: string;
  owner: string;
  token: number;
  ttlMs: number;
}

/** Answer to `POST /renew`: the new expiry, or `renewed: false` when the lease lapsed or was taken over. */
export type RenewAnswer = { renewed: true; expiresAt: number } | { renewed: false };

/** Body of `POST /release`. */
export interface ReleaseRequest {
  name: string;
  owner: string;
  token: number;
}

/**
 * Prefix of the versions {@link KvStorage} gives values the object has no row for (written before the
 * object kept them): `kv-` and a hash of the value.
 */
export const LEGACY_KV_VERSION_PREFIX = "kv-";

/** Header carrying a value's version on `GET` answers and successful `PUT` answers. */
export const VERSION_HEADER = "x-edgecert-version";

/** Query parameters carrying `WriteConditions`: `ifVersion=v`, `ifAbsent=1`, `fenceName=n&fenceToken=t`. */
export function conditionParams(params: URLSearchParams, when: WriteConditions | undefined): URLSearchParams {
  if (when?.ifVersion === null) params.set("ifAbsent", "1");
  else if (when?.ifVersion !== undefined) params.set("ifVersion", when.ifVersion);
  if (when?.fence) {
    params.set("fenceName", when.fence.name);
    params.set("fenceToken", String(when.fence.token));
  }
  return params;
}

/** The `WriteConditions` that {@link conditionParams} wrote into `params`. */
export function conditionsFrom(params: URLSearchParams): WriteConditions {
  const when: { ifVersion?: string | null; fence?: Fence } = {};
  const ifVersion = params.get("ifVersion");
  if (params.get("ifAbsent") === "1") when.ifVersion = null;
  else if (ifVersion !== null) when.ifVersion = ifVersion;
  const name = params.get("fenceName");
  if (name !== null) when.fence = { name, token: Number(params.get("fenceToken")) };
  return when;
}

/** Status of an answer refusing a write because a condition failed (`code` says which). */
export const REFUSED_STATUS = 412;

/** Body of an error answer (status 400 for invalid input, 412 for a refused write, 500 otherwise). */
export interface ErrorAnswer {
  error: string;
  /** On a 412: `conflict` or `lease_lost`. */
  code?: "conflict" | "lease_lost";
}
