/**
 * Bounded polling for the end-to-end suite: the proxy converges asynchronously, so cases poll
 * for the expected state with a deadline instead of sleeping.
 *
 * @module
 */

/** The state never came about. */
export class DeadlineError extends Error {
  /** @param message What was awaited and the last thing seen. */
  constructor(message: string) {
    super(message);
    this.name = "DeadlineError";
  }
}

/** Poll interval: short, so convergence time is measured to about this precision. */
export const POLL_INTERVAL_MS = 100;

/**
 * Calls `attempt` until it returns `{ done: true }` or `timeoutMs` passes; resolves with the
 * elapsed milliseconds, rejects with the last `seen` value otherwise.
 */
export async function eventually(
  what: string,
  timeoutMs: number,
  attempt: () => Promise<{ done: boolean; seen: unknown }>,
): Promise<number> {
  const start = performance.now();
  let seen: unknown = undefined;
  while (true) {
    const result = await attempt();
    seen = result.seen;
    const elapsed = performance.now() - start;
    if (result.done) return elapsed;
    if (elapsed > timeoutMs) {
      throw new DeadlineError(
        `${what}: not within ${timeoutMs} ms; last seen: ${JSON.stringify(seen)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
