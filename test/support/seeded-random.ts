// One seeded PRNG for the tests and the exported storage conformance suite (which ships in src/).
export { seededRandom } from "../../src/storage/seeded-random.ts";
