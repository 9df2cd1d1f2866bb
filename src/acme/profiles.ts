/**
 * Certificate profiles (draft-ietf-acme-profiles): the directory's `meta.profiles`, a typed error when a
 * profile the CA does not offer is asked for, and a check of the profile the order echoes back.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import type { AcmeDirectory, AcmeOrder } from "./types.ts";

/** One profile the CA offers: its name and the CA's description (often a URL). */
export interface OfferedProfile {
  /** The profile's name, as `newOrder` takes it. */
  name: string;
  /** What the CA says about it (often a URL). */
  description: string;
}

/** The profiles a directory offers (`meta.profiles`), in the CA's order; empty when it offers none. */
export function offeredProfiles(directory: AcmeDirectory): OfferedProfile[] {
  const profiles = directory.meta?.profiles;
  if (typeof profiles !== "object" || profiles === null || Array.isArray(profiles)) return [];
  return Object.entries(profiles)
    .filter(([, description]) => typeof description === "string")
    .map(([name, description]) => ({ name, description }));
}

/** A profile was asked for that the CA does not list in `meta.profiles`; `offered` names what it does list. */
export class UnknownProfileError extends EdgecertError {
  /** The profile asked for. */
  readonly profile: string;
  /** The names the CA offers (empty when it offers no profiles at all). */
  readonly offered: string[];
  /** `directoryUrl` names the CA in the message. */
  constructor(profile: string, offered: string[], directoryUrl: string | undefined) {
    const where = directoryUrl ? ` at ${directoryUrl}` : "";
    super(
      "invalid_input",
      offered.length > 0
        ? `the CA${where} does not offer the profile ${JSON.stringify(profile)}; it offers: ${offered.join(", ")}`
        : `the CA${where} offers no certificate profiles (its directory has no meta.profiles), so ${JSON.stringify(profile)} cannot be requested`,
    );
    this.name = "UnknownProfileError";
    this.profile = profile;
    this.offered = offered;
  }
}

/** The order does not carry the profile that was asked for (the CA ignored or replaced it). */
export class ProfileMismatchError extends EdgecertError {
  /** The profile asked for. */
  readonly requested: string;
  /** What the order says (undefined: no `profile` member). */
  readonly echoed: string | undefined;
  /** `orderUrl` names the order in the message. */
  constructor(requested: string, echoed: string | undefined, orderUrl: string) {
    super(
      "bad_response",
      `order ${orderUrl} was asked for the profile ${JSON.stringify(requested)} but ${echoed === undefined ? "names no profile" : `says ${JSON.stringify(echoed)}`}`,
    );
    this.name = "ProfileMismatchError";
    this.requested = requested;
    this.echoed = echoed;
  }
}

/** Throws {@link UnknownProfileError} unless `profile` is one of the directory's `meta.profiles`. */
export function assertProfileOffered(directory: AcmeDirectory, profile: string, directoryUrl?: string): void {
  const offered = offeredProfiles(directory).map((p) => p.name);
  if (!offered.includes(profile)) throw new UnknownProfileError(profile, offered, directoryUrl);
}

/**
 * Throws {@link ProfileMismatchError} when an order created for `profile` names another profile, or none
 * at all (a CA that offers profiles echoes the chosen one in the order object).
 */
export function assertOrderProfile(order: AcmeOrder, profile: string): void {
  if (order.profile !== profile) throw new ProfileMismatchError(profile, order.profile, order.url);
}
