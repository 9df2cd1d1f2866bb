import { readCsrNames } from "../../webcrypto/csr.ts";
import { pemDecode } from "../../webcrypto/pem.ts";
import { toIdentifiers } from "../identifiers.ts";
import { IssuanceError } from "../issuance-error.ts";
import type { AcmeIdentifier } from "../types.ts";
import { allowedChallengeTypes } from "./challenge-selection.ts";

/** What an issuance is for, checked before the first request. */
export interface IssuanceInput {
  identifiers: AcmeIdentifier[];
  /** The caller's CSR as DER, when one was given (its SANs are the identifiers). */
  csrDer: Uint8Array | undefined;
  /** Challenge types that have a solver. */
  solverTypes: string[];
}

/**
 * Reads the identifiers (from `names`, or from the CSR's SANs) and checks that every identifier has
 * a solver that can validate it. Throws `IssuanceError` at step `validate-input`.
 */
export function readIssuanceInput(options: {
  names?: ReadonlyArray<string | AcmeIdentifier> | undefined;
  csr?: Uint8Array | string | undefined;
  solvers: Readonly<Record<string, unknown>>;
}): IssuanceInput {
  let csrDer: Uint8Array | undefined;
  let identifiers: AcmeIdentifier[];
  try {
    if (options.csr !== undefined) {
      csrDer = typeof options.csr === "string" ? pemDecode(options.csr, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST").der : options.csr;
      const fromCsr = readCsrNames(csrDer);
      identifiers = toIdentifiers([...fromCsr.dnsNames, ...fromCsr.ipAddresses]);
    } else {
      identifiers = toIdentifiers(options.names ?? []);
    }
  } catch (cause) {
    throw new IssuanceError("validate-input", (cause as Error).message, { cause });
  }
  const solverTypes = Object.keys(options.solvers).filter((t) => options.solvers[t]);
  for (const id of identifiers) {
    if (allowedChallengeTypes(id, solverTypes).length === 0) {
      const need = id.value.startsWith("*.") ? "a dns-01 or dns-persist-01 solver (wildcards)" : id.type === "ip" ? "an http-01 or tls-alpn-01 solver (IP addresses)" : "a solver";
      throw new IssuanceError("validate-input", `${id.value} needs ${need}`, { code: "invalid_input", identifier: id });
    }
  }
  return { identifiers, csrDer, solverTypes };
}
