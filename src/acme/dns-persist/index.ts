/**
 * dns-persist-01 (draft-ietf-acme-dns-persist): parse the challenge, build the persistent
 * `_validation-persist` records, check them read-only over DoH, and a solver that never writes DNS.
 * @experimental The draft is not an RFC yet; see `DNS_PERSIST_DRAFT` for the revision implemented.
 * @module
 */
export {
  DNS_PERSIST_01,
  DNS_PERSIST_DRAFT,
  DnsPersistError,
  VALIDATION_PERSIST_LABEL,
  candidateValidatedNames,
  evaluateDnsPersistRecords,
  formatDnsPersistRecord,
  parseDnsPersistChallenge,
  parseDnsPersistRecord,
  persistBaseName,
  splitTxtCharacterStrings,
  validationPersistName,
  type DnsPersistChallenge,
  type DnsPersistErrorReason,
  type DnsPersistExpectation,
  type DnsPersistRecord,
  type DnsPersistRecordInput,
  type DnsPersistRejection,
  type DnsPersistVerdict,
} from "./rules.ts";
export {
  dnsPersistRecordsFor,
  dnsPersistRecordsForClient,
  type DnsPersistAccountRecords,
  type DnsPersistRecordToCreate,
  type DnsPersistRecordsOptions,
} from "./records.ts";
export {
  checkDnsPersistRecords,
  type DnsPersistCheckOptions,
  type DnsPersistNameReport,
  type DnsPersistRecordStatus,
} from "./checker.ts";
export { DnsPersist01Solver, DnsPersistRecordsNotReadyError, type DnsPersist01SolverOptions } from "./solver.ts";
export {
  dnsPersistPreference,
  selectWithDnsPersist,
  type DnsPersistPreference,
  type DnsPersistSelectionInput,
} from "./selection.ts";
