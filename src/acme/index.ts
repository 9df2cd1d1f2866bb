/**
 * The ACME protocol (RFC 8555): `AcmeClient` with one method per resource operation, challenge helpers,
 * identifiers and problem documents.
 * @module
 */
export {
  AcmeClient,
  type AcmeClientOptions,
  type NewAccountOptions,
  type NewOrderOptions,
  type RequestOptions,
  type RevokeOptions,
} from "./client.ts";
export {
  dns01RecordName,
  dns01TxtValue,
  http01Path,
  keyAuthorization,
  tlsAlpn01Certificate,
  tlsAlpn01ServerName,
} from "./challenge-helpers.ts";
export { LatencyMeter } from "./latency.ts";
export { DEFAULT_DIRECTORY_URL, LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING } from "./constants.ts";
export * from "./dns-persist/index.ts";
export {
  ProfileMismatchError,
  UnknownProfileError,
  assertOrderProfile,
  assertProfileOffered,
  offeredProfiles,
  type OfferedProfile,
} from "./profiles.ts";
export { InvalidIdentifierError, isIpAddress, sameIdentifiers, toIdentifier, toIdentifiers } from "./identifiers.ts";
export {
  IssuanceError,
  OrderNotResumableError,
  type IssuanceStep,
  type UnresumableOrderReason,
  type ValidationFailure,
} from "./issuance-error.ts";
export type {
  AccountProgress,
  AuthorizationsProgress,
  AuthorizationValidProgress,
  ChallengesAcceptedProgress,
  ChallengesPresentedProgress,
  ChallengeSwitchProgress,
  DoneProgress,
  DownloadedProgress,
  FinalizedProgress,
  ObtainProgressBase,
  ObtainProgressEvent,
  OrderProgress,
} from "./issuance/progress.ts";
export {
  obtainCertificate,
  type IssuedChain,
  type NewOrderAbout,
  type ObtainCertificateOptions,
  type ObtainedCertificate,
  type PreferredChain,
} from "./obtain-certificate.ts";
export type { PollOptions } from "./poll.ts";
export type { ChallengeContext, ChallengeType, Solver } from "./solver.ts";
export { dns01Solver, type Dns01Callbacks } from "./solvers/dns01-solver.ts";
export { Http01Solver } from "./solvers/http01-solver.ts";
export { withHttp01SelfCheck, type Http01SelfCheckOptions } from "./solvers/http01-self-check.ts";
export { TlsAlpn01Solver } from "./solvers/tls-alpn01-solver.ts";
export { ACME_ERROR_PREFIX, AcmeProblem, isRateLimited, type AcmeSubproblem } from "./problem.ts";
export { ariCertificateId } from "./renewal-info.ts";
export { DEFAULT_RETRY_POLICY, statusRetryClass, type RetryPolicy, type StatusRetryClass } from "./retry.ts";
export { SendRefusedError, type GuardedRequest, type SendGuard } from "./send-guard.ts";
export {
  RevocationReason,
  type AcmeAccount,
  type AcmeAuthorization,
  type AcmeChallenge,
  type AcmeDirectory,
  type AcmeIdentifier,
  type AcmeOrder,
  type AcmeProblemDocument,
  type AcmeStatus,
  type CertificateChain,
  type RenewalInfo,
  type RevocationReasonCode,
} from "./types.ts";
export { ACME_TLS_ALPN_PROTOCOL } from "../webcrypto/tls-alpn-certificate.ts";
