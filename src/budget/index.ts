/**
 * The CA's rate limits as a budget shared by a fleet: limits ({@link caLimitsFor},
 * {@link parseCaLimits}), registered domains from the Public Suffix List, the shared buckets
 * ({@link FleetBudget}), the fair admission queue ({@link FairQueue}) and how a CA's refusal maps to a
 * bucket ({@link rateLimitRefusalOf}).
 * @module
 */
export { caLimitsFor, checkCaLimits, LETS_ENCRYPT_LIMITS, LETS_ENCRYPT_STAGING_LIMITS, parseCaLimits, type CaLimits, type RateLimit } from "./ca-limits.ts";
export { BudgetSpentError, FairQueue, type AdmissionRequest, type FairQueueOptions, type QueuedKind, type QueuedOrder } from "./fair-queue.ts";
export { fleetQueue, type FleetQueue, type FleetQueueOptions } from "./fleet-queue-view.ts";
export { FleetBudget, type BucketKind, type BucketRef, type BucketView, type BudgetDecision, type BudgetRequest, type FleetBudgetOptions } from "./fleet-budget.ts";
export { rateLimitRefusalOf, type RateLimitRefusal } from "./rate-limit-refusal.ts";
export { registeredDomain } from "./registered-domain.ts";
export { PUBLIC_SUFFIX_LIST_SECTIONS, PUBLIC_SUFFIX_LIST_VERSION } from "./public-suffix-data.ts";
export type { BucketState } from "./token-bucket.ts";
