import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient, K8sError } from './errors.js';

export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  attempts?: number;
  /** First backoff; doubles each try, with jitter. Default 250 ms. */
  baseMs?: number;
  /** Longest single wait, also caps the server's Retry-After. Default 10 s. */
  maxMs?: number;
}

/**
 * Runs fn until it succeeds, fails permanently, or the attempts run out. Only transient failures
 * (429, 5xx, dropped connections) are retried: a 403 or 404 will not change by waiting.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseMs ?? 250;
  const max = opts.maxMs ?? 10_000;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !(err instanceof K8sError) || !isTransient(err)) throw err;
      const backoff = base * 2 ** (i - 1) * (0.5 + Math.random() / 2);
      await sleep(Math.min(max, err.retryAfterMs ?? backoff));
    }
  }
}
