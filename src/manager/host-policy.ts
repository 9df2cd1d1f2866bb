import { toIdentifier } from "../acme/identifiers.ts";

/** Decides whether the manager may obtain a certificate for `name` on demand. */
export type HostPolicy = (name: string) => boolean | Promise<boolean>;

/**
 * A policy allowing exactly the listed names (normalised like identifiers, so `Example.COM.` matches
 * `example.com`), plus any name under a listed `*.suffix` one level deep.
 */
export function hostAllowList(...names: string[]): HostPolicy {
  const exact = new Set<string>();
  const wildcards = new Set<string>();
  for (const n of names) {
    const { value } = toIdentifier(n);
    if (value.startsWith("*.")) wildcards.add(value.slice(2));
    else exact.add(value);
  }
  return (name) => {
    let value: string;
    try {
      value = toIdentifier(name).value;
    } catch {
      return false;
    }
    if (exact.has(value)) return true;
    const dot = value.indexOf(".");
    return dot > 0 && wildcards.has(value.slice(dot + 1));
  };
}
