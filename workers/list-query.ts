/**
 * The query every admin listing takes (certificates, deploy tokens, webhooks, deliveries):
 * `limit` (1–200, default 50), `cursor` (the previous page's, opaque to clients), `q` (a search
 * text: names, labels, URLs) and `state` (one of the listing's states). Anything else is a 400, as
 * every admin query is (./admin-body.ts readQuery).
 * @module
 */
import { readQuery } from "./admin-body.ts";

/** A listing's page request, validated. */
export interface ListQuery {
  limit: number;
  cursor?: string;
  q?: string;
  state?: string;
}

const LIMIT = /^(?:[1-9][0-9]?|1[0-9][0-9]|200)$/;
/** A search text: what names, labels and URLs are made of (no quotes, no SQL LIKE wildcards of its own). */
const SEARCH = /^[A-Za-z0-9.:_@/*-]{1,100}$/;
/** Page size when `limit` is not given. */
export const DEFAULT_PAGE = 50;

/** Reads a listing's query; `cursor` is the listing's own cursor form, `states` its states. */
export function readListQuery(url: string, cursor: RegExp, states: readonly string[], extra: Readonly<Record<string, RegExp>> = {}): ListQuery & Record<string, string | number | undefined> {
  const state = new RegExp(`^(?:${states.join("|")})$`);
  const query = readQuery(url, { limit: LIMIT, cursor, q: SEARCH, state, ...extra });
  return { ...query, limit: query.limit ? Number(query.limit) : DEFAULT_PAGE };
}

/** `q` as a SQL LIKE pattern matching it anywhere, case-insensitively, with `\` as the escape. */
export function likePattern(q: string): string {
  return `%${q.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** Whether a text contains `q` (case-insensitive): the same match as {@link likePattern}, for listings filtered in code. */
export function matchesSearch(q: string | undefined, ...texts: Array<string | null | undefined>): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  return texts.some((t) => t?.toLowerCase().includes(needle));
}
