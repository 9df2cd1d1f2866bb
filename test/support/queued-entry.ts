/**
 * An entry of the Worker's renewal index as tests write it through the index's RPC (`upsert`,
 * `upsertMany`): a certificate that failed and, with `queuedFor`, waits for the CA budget's bucket it
 * names (`orders <account>`, `domain <registered domain>`, `nameset <names>`) until `dueAt`.
 * @module
 */
export interface QueuedEntryInput {
  id: string;
  names: string[];
  dueAt: number;
  status: "failed";
  failures: number;
  queuedFor?: string;
  updatedAt: number;
}
