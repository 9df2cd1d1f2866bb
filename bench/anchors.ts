// Which outside programs the benchmark can compare against or run on. A missing one is said once, at
// the start, and its columns or figures are left out; edgecert's own figures are always reported.
import { spawnSync } from "node:child_process";
import { postgresBinDir } from "../test/support/postgres-server.ts";
import { redisServerBinary } from "../test/support/redis-server.ts";

/** The anchors present on this machine. */
export interface Anchors {
  /** Debian's `lego` ACME client (and GNU time, which measures its CPU and memory). */
  lego: boolean;
  /** `redis-server`, for the fleet storage figures. */
  redis: boolean;
  /** PostgreSQL's server binaries, for the fleet storage figures. */
  postgres: boolean;
}

const onPath = (name: string) => spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).status === 0;

/** Looks the anchors up; `skipLego` (BENCH_LEGO=0) counts lego as absent on purpose. */
export function findAnchors(skipLego: boolean): { anchors: Anchors; missing: string[] } {
  const anchors: Anchors = {
    lego: !skipLego && onPath("lego") && onPath("/usr/bin/time"),
    redis: redisServerBinary() !== undefined,
    postgres: postgresBinDir() !== undefined,
  };
  const missing: string[] = [];
  if (!anchors.lego && !skipLego) {
    missing.push(`lego (apt-get install lego${onPath("/usr/bin/time") ? "" : " time"}): the lego columns and lego targets are left out`);
  }
  if (!anchors.redis) missing.push("redis-server (apt-get install redis-server): no fleet-storage figures");
  if (!anchors.postgres) missing.push("PostgreSQL (apt-get install postgresql): no fleet-storage figures");
  return { anchors, missing };
}
