/**
 * The requests {@link EdgecertStorageObject} answers and its clients send, over the stub's `fetch`.
 * Values travel as raw bodies; everything else as JSON. Internal: both ends ship in the same release.
 */

/** Base URL of requests to the object (the host is never resolved; a stub needs an absolute URL). */
export const OBJECT_ORIGIN = "https://edgecert-storage.invalid";

/** Request paths. `value` takes `?key=`; `list` takes `?prefix=&after=&limit=`. */
export const Paths = {
  value: "/value",
  list: "/list",
  lock: "/lock",
  renew: "/renew",
  release: "/release",
} as const;

/** Answer to `GET /list`: keys after `after`, and whether more follow. */
export interface ListAnswer {
  keys: string[];
  more: boolean;
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

/** Body of an error answer (status 400 for invalid input, 500 otherwise). */
export interface ErrorAnswer {
  error: string;
}
