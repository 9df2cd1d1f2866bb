/**
 * Hono integration: the `acmeChallenge()` middleware (subpath `edgecert/hono`; needs `hono`).
 * @module
 */
export { acmeChallenge, type AcmeChallengeContext, type AcmeChallengeMiddleware, type Http01Source } from "./acme-challenge.ts";
