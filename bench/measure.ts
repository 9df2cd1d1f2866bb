/** One measured issuance. */
export interface Sample {
  requests: number;
  wallMs: number;
  cpuMs: number;
  peakRssMiB: number;
  ok: boolean;
}

/** The `q` quantile of a list of numbers (the element at ⌊q·n⌋ of the sorted list; NaN when empty). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** Median of a list of numbers (the upper one for even lengths). */
export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** Runs `fn` `runs` times and summarises the samples. */
export async function repeat(runs: number, fn: (run: number) => Promise<Sample>): Promise<Summary> {
  const samples: Sample[] = [];
  for (let r = 0; r < runs; r++) samples.push(await fn(r));
  const ok = samples.filter((s) => s.ok);
  return {
    runs,
    succeeded: ok.length,
    requests: median(ok.map((s) => s.requests)),
    wallMs: Math.round(median(ok.map((s) => s.wallMs))),
    cpuMs: Math.round(median(ok.map((s) => s.cpuMs)) * 10) / 10,
    peakRssMiB: Math.round(Math.max(...ok.map((s) => s.peakRssMiB), 0)),
  };
}

/** Medians over the successful runs. */
export interface Summary {
  runs: number;
  succeeded: number;
  requests: number;
  wallMs: number;
  cpuMs: number;
  peakRssMiB: number;
}
