// Main module of the workerd test project: exports the Durable Object class the bindings point at.
export { EdgecertStorageObject } from "../../../src/storage/index.ts";

export default {
  fetch(): Response {
    return new Response("edgecert storage test worker");
  },
};
