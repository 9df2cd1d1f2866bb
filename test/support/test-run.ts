/**
 * Global setup (vitest.config.ts): an id for this test run, given to every test file (`inject("testRunId")`),
 * for work that files share within one run and no further — the packed tarball
 * (test/consumers/consumer-project.ts). Its teardown removes the run's directory.
 */
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** This run's id (see test/support/test-run.ts). */
    testRunId: string;
  }
}

/** Where test files of run `id` keep what they share: `.tmp/run/<id>` in this repository. */
export function runDirectory(id: string): string {
  return join(import.meta.dirname, "..", "..", ".tmp", "run", id);
}

export default function testRun(project: TestProject): () => void {
  const id = randomUUID();
  project.provide("testRunId", id);
  return () => rmSync(runDirectory(id), { recursive: true, force: true });
}
