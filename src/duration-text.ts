/**
 * A span of time as people read it: "45 seconds", "1 minute", "30 minutes", "2 hours", "3 days" (the
 * largest unit that keeps it short; hours up to two days). One wording for the dashboard and the CLI.
 */
export function durationText(ms: number): string {
  const abs = Math.abs(ms);
  const [n, unit] =
    abs < 60_000 ? [Math.round(abs / 1000), "second"] : abs < 3_600_000 ? [Math.round(abs / 60_000), "minute"] : abs < 172_800_000 ? [Math.round(abs / 3_600_000), "hour"] : [Math.round(abs / 86_400_000), "day"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/** A time relative to `now`: "in 30 minutes", "2 hours ago". */
export function relativeText(at: number, now: number): string {
  return at >= now ? `in ${durationText(at - now)}` : `${durationText(at - now)} ago`;
}
