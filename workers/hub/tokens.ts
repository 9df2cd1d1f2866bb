/**
 * Deploy tokens: read-only credentials a server uses to pull exactly its own certificate.
 *
 * A token is `edt_<id>_<secret>`. Only SHA-256(secret) is stored (under `hub/tokens/<id>`, in the
 * strongly consistent Durable Object storage), so a storage dump yields no usable token; the token
 * itself is shown once, when it is created. The id finds the record; the hash is compared in constant
 * time. Checking a token only reads it; its uses are counted apart (./token-usage.ts), so pulls never
 * contend on the token record and can never write a revoked token back to life. Revoking is a
 * compare-and-set on the record's version.
 * @module
 */
import { isEdgecertError } from "../../src/errors.ts";
import { hostAllowList } from "../../src/manager/host-policy.ts";
import { toIdentifier } from "../../src/acme/identifiers.ts";
import { base64urlEncode } from "../../src/webcrypto/base64url.ts";
import { toHex } from "../../src/webcrypto/bytes.ts";
import { encodeKeyCursor } from "../../src/storage/list-page.ts";
import { readMany } from "../../src/storage/read-many.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { AdminError } from "../admin-body.ts";
import { constantTimeEqual } from "../constant-time.ts";
import { mergeUses, storedUses, type TokenUse } from "./token-usage.ts";

const PREFIX = "hub/tokens/";
/**
 * The listing's order in storage: one empty key per token, `<createdAt, 15 digits>.<id>`, so a page is
 * read from where the last ended instead of loading every token (written before the token's record).
 */
const BY_CREATION = "hub/tokens-by-creation/";
/** Written once every token made before {@link BY_CREATION} existed has its key there. */
const BY_CREATION_BUILT = "hub/tokens-by-creation-built";
const CAS_ATTEMPTS = 8;
/**
 * Older tokens looked at a time and per listing request, and keys written per request (TokenStore's
 * #indexOlderTokens): at most 1 + 3 × 4 + 20 = 33 storage operations while a deployment's older tokens
 * get their keys, once.
 */
const INDEX_STEP = 200;
const INDEX_PER_CALL = 600;
const INDEX_WRITES_PER_CALL = 20;
/** Most tokens one filtered listing request reads before it answers with what it found and a cursor. */
export const MAX_TOKENS_EXAMINED = 500;
/**
 * Most storage operations one listing page costs on the Durable Object store (which reads many keys
 * in one request): the index marker, one list and one read of the records; where records went
 * missing meanwhile (a crash between a token's two writes), one more list and read per gap, at most
 * {@link PAGE_ROUNDS}. The route adds one read of the page's uses.
 */
export const PAGE_OPERATIONS = 1 + 2 * 3;
const PAGE_ROUNDS = 3;

/** Where a token is in the listing's order: its creation time, then its id. */
export interface TokenPosition {
  createdAt: number;
  id: string;
}

const decodeRecord = (raw: Uint8Array | undefined): TokenRecord | undefined => (raw ? (JSON.parse(new TextDecoder().decode(raw)) as TokenRecord) : undefined);

const positionKey = (p: TokenPosition) => `${BY_CREATION}${String(p.createdAt).padStart(15, "0")}.${p.id}`;
function positionOf(key: string): TokenPosition {
  const [createdAt, id] = key.slice(BY_CREATION.length).split(".") as [string, string];
  return { createdAt: Number(createdAt), id };
}

/** What a token may read: one certificate (by id), or the certificates whose every name matches a pattern. */
export type TokenScope = { certificate: string } | { pattern: string };

/** A deploy token as stored (never the token itself). */
export interface TokenRecord {
  id: string;
  /** Hex SHA-256 of the secret part. */
  hash: string;
  scope: TokenScope;
  label?: string;
  /** Agent public key (SPKI PEM): when set, the private key is only ever returned sealed to it. */
  agentPublicKey?: string;
  createdAt: number;
  expiresAt?: number;
  revokedAt?: number;
  /** Uses: in the separate usage record (see ./token-usage.ts), merged in by {@link TokenStore.withUsage}; stored here by older versions. */
  lastUsedAt?: number;
  /** CF-Connecting-IP of the last use. */
  lastUsedFrom?: string;
  uses: number;
}

/** Token ids as {@link TokenStore.create} makes them (12 letters and digits). */
const TOKEN_ID = /^[A-Za-z0-9]{12}$/;

/** Whether `id` can be a token id (anything else names no token, and never reaches storage). */
export const isTokenId = (id: string): boolean => TOKEN_ID.test(id);

/** Why a presented token is refused (all 401). */
export type TokenRefusal = "unknown" | "revoked" | "expired";

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

function randomId(bytes: number): string {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** Validates a scope pattern: a name or `*.name` (one level below), as ALLOWED_NAMES reads them. */
export function readScope(value: unknown): TokenScope {
  const v = value as { certificate?: unknown; pattern?: unknown } | null;
  if (v && typeof v === "object" && Object.keys(v).length === 1 && typeof v.certificate === "string" && /^[A-Za-z0-9._-]{1,100}$/.test(v.certificate)) {
    return { certificate: v.certificate };
  }
  if (v && typeof v === "object" && Object.keys(v).length === 1 && typeof v.pattern === "string") {
    try {
      return { pattern: toIdentifier(v.pattern).value };
    } catch {
      // fall through to the error below
    }
  }
  throw new AdminError(400, "invalid_scope", 'scope must be { "certificate": "<id>" } or { "pattern": "name or *.name" }');
}

/** Whether `scope` covers a certificate with this id and these names (every name must match a pattern). */
export async function scopeCovers(scope: TokenScope, id: string, names: readonly string[]): Promise<boolean> {
  if ("certificate" in scope) return scope.certificate === id;
  const policy = hostAllowList(scope.pattern);
  for (const n of names) if (!(await policy(n))) return false;
  return names.length > 0;
}

/** Whether a pattern scope could cover `name` at all (checked before any lookup, so a token cannot probe other names). */
export async function scopeMayCover(scope: TokenScope, name: string): Promise<boolean> {
  return "certificate" in scope ? true : hostAllowList(scope.pattern)(name);
}

/** The deploy-token store over the Worker's strongly consistent storage. */
export class TokenStore {
  constructor(
    private readonly storage: Storage,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a token; returns the record and the token (the only time it exists outside the caller). */
  async create(input: { scope: TokenScope; label?: string; expiresAt?: number; agentPublicKey?: string }): Promise<{ token: string; record: TokenRecord }> {
    const id = randomId(9).replace(/[-_]/g, "x");
    const secret = randomId(32);
    const record: TokenRecord = { id, hash: await sha256Hex(secret), scope: input.scope, createdAt: this.now(), uses: 0, ...pick(input) };
    // Its place in the listing first: a crash between the two leaves a key the listing skips, never a
    // token it cannot find.
    await this.storage.put(positionKey(record), "");
    await this.storage.put(PREFIX + id, JSON.stringify(record), { ifVersion: null });
    return { token: `edt_${id}_${secret}`, record };
  }

  /**
   * A page of token records (hashes included: callers show {@link publicView}), oldest first, after
   * `after`: up to `limit` that `accept` takes. Read from storage a page at a time, never every token,
   * the records of a page in one read where the storage can (`readMany`: the Durable Object store
   * answers many keys in one request). With `accept`, at most {@link MAX_TOKENS_EXAMINED} are read,
   * in one list and one read: the page may then hold fewer than `limit` while `next` says where to go
   * on. `next` is absent once no token follows. A page costs at most {@link PAGE_OPERATIONS} storage
   * operations (Workers subrequests to the store), however many tokens exist.
   */
  async page(options: { after?: TokenPosition; limit: number; accept?: (r: TokenRecord) => boolean }): Promise<{ records: TokenRecord[]; next?: TokenPosition }> {
    await this.#indexOlderTokens();
    const { limit, accept } = options;
    const out: TokenRecord[] = [];
    let after = options.after ? positionKey(options.after) : undefined;
    let examined = 0;
    let rounds = 0;
    for (;;) {
      const want = accept ? MAX_TOKENS_EXAMINED - examined : Math.min(MAX_TOKENS_EXAMINED - examined, limit - out.length);
      // Tokens live in the strongly consistent storage, whose list cursors are key cursors (list-page.ts): a page starts after any key.
      const listed = await this.storage.list(BY_CREATION, { limit: want + 1, ...(after ? { cursor: encodeKeyCursor(after) } : {}) });
      const keys = listed.keys.slice(0, want);
      const more = listed.keys.length > keys.length || listed.cursor !== undefined;
      const records = (await readMany(this.storage, keys.map((k) => PREFIX + positionOf(k).id))).map(decodeRecord);
      for (const [i, key] of keys.entries()) {
        examined++;
        after = key;
        const r = records[i];
        if (!r || (accept && !accept(r))) continue;
        out.push(r);
        if (out.length === limit) return i < keys.length - 1 || more ? { records: out, next: positionOf(key) } : { records: out };
      }
      if (!more || keys.length === 0) return { records: out };
      if (examined >= MAX_TOKENS_EXAMINED || ++rounds >= PAGE_ROUNDS) return { records: out, next: positionOf(after!) };
    }
  }

  async #read(id: string): Promise<TokenRecord | undefined> {
    return decodeRecord(await this.storage.get(PREFIX + id));
  }

  /**
   * Tokens created before the listing kept its order in storage get their key there, once per
   * deployment: {@link INDEX_STEP} tokens at a time (one list, one read of their records, one of their
   * keys), the progress kept in a marker (`done` at the end), at most {@link INDEX_PER_CALL} tokens and
   * {@link INDEX_WRITES_PER_CALL} keys written per call, so a deployment with many older tokens
   * finishes over a few listings, each within Workers Free's 50 subrequests (until then a listing may
   * miss some of them). A token that has its key costs no write. Writing a key again is harmless.
   */
  async #indexOlderTokens(): Promise<void> {
    const marker = await this.storage.get(BY_CREATION_BUILT);
    let progress = marker ? new TextDecoder().decode(marker) : "";
    let writes = 0;
    for (let done = 0; progress !== "done" && done < INDEX_PER_CALL; done += INDEX_STEP) {
      const page = await this.storage.list(PREFIX, { limit: INDEX_STEP, ...(progress ? { cursor: progress } : {}) });
      const records = (await readMany(this.storage, page.keys)).map(decodeRecord);
      const positions = await readMany(this.storage, records.map((r, i) => (r ? positionKey(r) : page.keys[i]!)));
      let stopAt = -1;
      for (const [i, record] of records.entries()) {
        if (!record || positions[i] !== undefined) continue;
        if (writes === INDEX_WRITES_PER_CALL) {
          stopAt = i;
          break;
        }
        await this.storage.put(positionKey(record), "");
        writes++;
      }
      if (stopAt >= 0) {
        // The rest waits for the next listing, from the token before the first one left.
        if (stopAt > 0) await this.storage.put(BY_CREATION_BUILT, encodeKeyCursor(page.keys[stopAt - 1]!));
        return;
      }
      progress = page.cursor ?? "done";
      await this.storage.put(BY_CREATION_BUILT, progress);
    }
  }

  /** Marks a token revoked (kept, for the audit trail). False when there is no such token. */
  async revoke(id: string): Promise<TokenRecord | undefined> {
    return this.update(id, (r) => (r.revokedAt === undefined ? { ...r, revokedAt: this.now() } : r));
  }

  /**
   * Checks a presented token: the record, or why it is refused. A read only — the caller counts the
   * use (token-usage.ts) — so any number of simultaneous pulls with one token succeed.
   */
  async authenticate(token: string): Promise<TokenRecord | TokenRefusal> {
    const m = /^edt_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/.exec(token); // the id part is TOKEN_ID
    if (!m) return "unknown";
    const [, id, secret] = m as unknown as [string, string, string];
    const raw = await this.storage.get(PREFIX + id);
    // Compared even when the id is unknown, so a miss takes the same path as a wrong secret.
    const stored = raw ? (JSON.parse(new TextDecoder().decode(raw)) as TokenRecord) : undefined;
    const match = await constantTimeEqual(await sha256Hex(secret), stored?.hash ?? "");
    if (!stored || !match) return "unknown";
    if (stored.revokedAt !== undefined) return "revoked";
    if (stored.expiresAt !== undefined && stored.expiresAt <= this.now()) return "expired";
    return stored;
  }

  /**
   * `records` with their written uses added (what the admin listing shows), and `unwritten`'s (this
   * isolate's uses not flushed yet, see ./token-usage.ts): one storage read for the page, no write.
   */
  async withUsage(records: TokenRecord[], unwritten: (id: string) => TokenUse | undefined = () => undefined): Promise<TokenRecord[]> {
    const uses = await storedUses(this.storage, records.map((r) => r.id));
    return records.map((r, i) => {
      const here = unwritten(r.id);
      const stored = uses[i];
      const use = stored && here ? mergeUses(stored, here) : (stored ?? here);
      if (!use) return r;
      const legacy = { uses: r.uses, ...(r.lastUsedAt !== undefined ? { lastUsedAt: r.lastUsedAt } : {}), ...(r.lastUsedFrom !== undefined ? { lastUsedFrom: r.lastUsedFrom } : {}) };
      return { ...r, ...mergeUses(legacy, use) };
    });
  }

  private async update(id: string, change: (r: TokenRecord) => TokenRecord): Promise<TokenRecord | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const entry = await this.storage.getEntry(PREFIX + id);
      if (!entry) return undefined;
      const current = JSON.parse(new TextDecoder().decode(entry.value)) as TokenRecord;
      const next = change(current);
      if (next === current) return current;
      try {
        await this.storage.put(PREFIX + id, JSON.stringify(next), { ifVersion: entry.version });
        return next;
      } catch (err) {
        if (!isEdgecertError(err, "conflict")) throw err;
      }
    }
    throw new AdminError(409, "busy", `token ${id} is being changed concurrently; retry`);
  }
}

function pick(input: { label?: string; expiresAt?: number; agentPublicKey?: string }): Partial<TokenRecord> {
  return {
    ...(input.label !== undefined ? { label: input.label } : {}),
    ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
    ...(input.agentPublicKey !== undefined ? { agentPublicKey: input.agentPublicKey } : {}),
  };
}

/** A record as the admin API shows it: no hash. */
export function publicView(r: TokenRecord) {
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  return {
    id: r.id,
    scope: r.scope,
    label: r.label ?? null,
    sealed: r.agentPublicKey !== undefined,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    revokedAt: iso(r.revokedAt),
    lastUsedAt: iso(r.lastUsedAt),
    lastUsedFrom: r.lastUsedFrom ?? null,
    uses: r.uses,
  };
}
