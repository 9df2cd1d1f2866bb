import { createCsr } from "../../webcrypto/csr.ts";
import { generateKeyPair, type KeyAlgorithmName } from "../../webcrypto/keys.ts";
import type { AcmeIdentifier } from "../types.ts";
import type { CryptoKeyPair } from "../../webcrypto/web-types.ts";

/** The CSR to finalize with, and the certificate key when edgecert made the CSR. */
export interface CertificateMaterial {
  csr: Uint8Array;
  key: CryptoKeyPair | undefined;
}

/**
 * Starts building the certificate key and CSR. It needs no network, so the caller runs it while the
 * CA works (account, order, validation) and awaits it only at finalize. A failure is reported then.
 */
export function prepareMaterial(
  identifiers: AcmeIdentifier[],
  options: { csrDer?: Uint8Array | undefined; certificateKey?: CryptoKeyPair | undefined; keyAlgorithm?: KeyAlgorithmName | undefined },
): Promise<CertificateMaterial> {
  const material: Promise<CertificateMaterial> = options.csrDer
    ? Promise.resolve({ csr: options.csrDer, key: undefined })
    : (async () => {
        const key = options.certificateKey ?? (await generateKeyPair(options.keyAlgorithm ?? "ES256"));
        const csr = await createCsr({
          key,
          names: identifiers.filter((i) => i.type === "dns").map((i) => i.value),
          ipAddresses: identifiers.filter((i) => i.type === "ip").map((i) => i.value),
        });
        return { csr, key };
      })();
  // Awaited later; an early rejection must not be reported as unhandled meanwhile.
  material.catch(() => {});
  return material;
}
