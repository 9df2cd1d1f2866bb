/**
 * `@peculiar/asn1-x509` for the Worker: the package's own modules, only those the Worker uses.
 * wrangler.toml's `[alias]` puts this module in place of the package's index for every import of
 * "@peculiar/asn1-x509" in the Worker's bundle (ours in src/webcrypto and `@peculiar/asn1-csr`'s).
 * The index pulls in every extension class of RFC 5280 and the CRL structures (about 12 KB minified),
 * and esbuild cannot drop a decorated class it does not use: the package has no `sideEffects` field
 * and each class's decorators register its schema when the module is evaluated — on every cold start.
 * Everywhere else (Node, Deno, Bun, the published package) the package's index is imported as is.
 *
 * Plain JavaScript: the deep paths have no declarations of their own; the Worker is typechecked
 * against the package's index, which exports the same classes. An import of a class not listed here
 * fails the Worker's build ("No matching export"), and test/workers/bundle-size.test.ts checks that
 * everything src/ and `@peculiar/asn1-csr` import from the package is here.
 */
export * from "@peculiar/asn1-x509/build/es2015/algorithm_identifier.js";
export * from "@peculiar/asn1-x509/build/es2015/attribute.js";
export * from "@peculiar/asn1-x509/build/es2015/certificate.js";
export * from "@peculiar/asn1-x509/build/es2015/extension.js";
export * from "@peculiar/asn1-x509/build/es2015/general_name.js";
export * from "@peculiar/asn1-x509/build/es2015/general_names.js";
export * from "@peculiar/asn1-x509/build/es2015/name.js";
export * from "@peculiar/asn1-x509/build/es2015/object_identifiers.js";
export * from "@peculiar/asn1-x509/build/es2015/subject_public_key_info.js";
export * from "@peculiar/asn1-x509/build/es2015/tbs_certificate.js";
export * from "@peculiar/asn1-x509/build/es2015/time.js";
export * from "@peculiar/asn1-x509/build/es2015/types.js";
export * from "@peculiar/asn1-x509/build/es2015/validity.js";
export * from "@peculiar/asn1-x509/build/es2015/extensions/authority_key_identifier.js";
export * from "@peculiar/asn1-x509/build/es2015/extensions/subject_alternative_name.js";
