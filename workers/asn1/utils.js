/**
 * `@peculiar/utils` for the Worker: what `@peculiar/asn1-schema` imports from the package's root,
 * taken from the package's own `bytes` entry point. wrangler.toml's `[alias]` puts this module in
 * place of "@peculiar/utils" (the root only; `@peculiar/utils/bytes` and `/encoding`, which
 * `@peculiar/asn1-x509` imports, resolve as usual). The root index also loads the package's PEM
 * helpers, converter registry and legacy API (about 7 KB minified) that nothing in the Worker calls.
 * test/workers/bundle-size.test.ts checks that every name asn1-schema imports from the root is here.
 */
export { isBufferSource, toArrayBuffer } from "@peculiar/utils/bytes";
