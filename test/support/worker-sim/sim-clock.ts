/**
 * The simulated window's virtual clock, shared by every invocation of the simulation's Worker (local
 * workerd runs the cron handler, the dispatchers and the renewers of one script in one isolate). Virtual
 * time moves only through modelled waits: a renewer waiting for the CA registers its wake-up time, and
 * once nothing has happened for {@link QUIET_MS} of wall time — every renewal in flight waiting, none
 * starting or ending — the clock jumps to the earliest wake-up. The runtime's own work (claims, RPCs,
 * index writes) takes no virtual time, so how fast this machine runs does not change a virtual figure;
 * a renewal that starts while the clock jumps starts one wait late (never early), so lags and tick
 * durations can only come out long.
 *
 * Each waiter watches the clock from its own timer: a promise one Durable Object resolves for another
 * resumes in the resolver's request context, where the other's I/O fails ("Cannot perform I/O on behalf
 * of a different Durable Object").
 */
const QUIET_MS = 15;

let now = 0;
let lastActivity = 0;
/** Wake-up times of the waits in progress. */
const wakes = new Map<symbol, number>();

/** Something happened (a renewal started or ended, a wait began or ended): the clock holds still for a while. */
export function touch(): void {
  lastActivity = Date.now();
}

/** Starts a tick at virtual time `at` (epoch ms). */
export function startTick(at: number): void {
  now = at;
  touch();
}

/** Virtual now (epoch ms). */
export function virtualNow(): number {
  return now;
}

/** When quiet, moves the clock to the earliest wake-up (whose waiters see it on their next look). */
function advance(): void {
  if (Date.now() - lastActivity < QUIET_MS) return;
  let next = Infinity;
  for (const wake of wakes.values()) next = Math.min(next, wake);
  if (next === Infinity || next <= now) return;
  now = next;
  touch();
}

/** Waits `ms` of virtual time. */
export async function sleep(ms: number): Promise<void> {
  const key = Symbol();
  const wake = now + ms;
  wakes.set(key, wake);
  touch();
  try {
    while (now < wake) {
      await new Promise((r) => setTimeout(r, QUIET_MS));
      advance();
    }
  } finally {
    wakes.delete(key);
    touch();
  }
}
