/**
 * Checks made before an order spends the CA's budget: CAA (RFC 8659, with RFC 8657's `accounturi` and
 * `validationmethods`) over DNS-over-HTTPS, and the record that pins a CA and account.
 * @module
 */
export { CaaCache, CAA_CACHE_DEFAULTS, type CaaCacheOptions } from "./caa-cache.ts";
export { checkCaa, relevantCaa, type CaaCheckOptions, type RelevantCaa } from "./caa-check.ts";
export { caaRefusal, parseIssueValue, pinningCaaRecord, type CaaIssuance, type CaaRefusal, type IssueValue } from "./caa-policy.ts";
