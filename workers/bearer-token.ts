import { setting } from "./config.ts";

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 §2.1), or undefined. The scheme is
 * case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are the same scheme, on every route.
 */
export function bearerToken(header: string | undefined | null): string | undefined {
  const match = /^bearer[ \t]+(.*)$/i.exec(header ?? "");
  return setting(match?.[1]);
}
