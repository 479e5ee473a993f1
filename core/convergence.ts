/**
 * Convergence: is the model still learning? From each behavior's first-seen time, the discovery
 * curve (new behaviors per interval of the window), the time since the last new behavior, and a
 * status: converged once the last N intervals brought nothing new.
 */
import { CATEGORIES, type BehaviorSet, type Category } from './behavior.js';

export interface ConvergenceOptions {
  /** The modeling window, wall-clock milliseconds. */
  start: number;
  end: number;
  /** Interval length in milliseconds; default: the window in 20 intervals. */
  interval?: number;
  /** Quiet intervals that make a model converged; default 3. */
  quietIntervals?: number;
}

export type ConvergenceStatus = 'empty' | 'converging' | 'converged';

export interface Curve {
  total: number;
  /** New behaviors per interval, oldest first. */
  curve: number[];
  /** ISO time of the newest first-seen behavior. */
  lastNew?: string;
  /** Milliseconds from the last new behavior to the end of the window. */
  quietFor: number;
  /** Trailing intervals without anything new. */
  quietIntervals: number;
  status: ConvergenceStatus;
}

export interface Convergence extends Curve {
  interval: number;
  quietIntervalsRequired: number;
  categories: Partial<Record<Category, Curve>>;
}

export function convergence(set: BehaviorSet, options: ConvergenceOptions): Convergence {
  const span = Math.max(1, options.end - options.start);
  const interval = Math.max(1, options.interval ?? Math.ceil(span / 20));
  const buckets = Math.ceil(span / interval);
  const required = options.quietIntervals ?? 3;
  const all: number[] = [];
  const categories: Partial<Record<Category, Curve>> = {};
  for (const category of CATEGORIES) {
    const firsts = Object.values(set[category] ?? {})
      .map((item) => item.first)
      .filter((t) => t > 0); // 0: imported without times
    if (firsts.length === 0) continue;
    all.push(...firsts);
    categories[category] = curve(firsts, options, interval, buckets, required);
  }
  return { interval, quietIntervalsRequired: required, ...curve(all, options, interval, buckets, required), categories };
}

function curve(firsts: number[], options: ConvergenceOptions, interval: number, buckets: number, required: number): Curve {
  const counts = new Array<number>(buckets).fill(0);
  let newest = -Infinity;
  for (const t of firsts) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((t - options.start) / interval)));
    counts[i]!++;
    if (t > newest) newest = t;
  }
  let quiet = 0;
  while (quiet < buckets && counts[buckets - 1 - quiet] === 0) quiet++;
  if (firsts.length === 0) return { total: 0, curve: counts, quietFor: options.end - options.start, quietIntervals: quiet, status: 'empty' };
  return {
    total: firsts.length,
    curve: counts,
    lastNew: new Date(newest).toISOString(),
    quietFor: Math.max(0, options.end - newest),
    quietIntervals: quiet,
    status: quiet >= required ? 'converged' : 'converging',
  };
}

/** What the workflow learns of the model while it is learned: counts and times, never behaviors. */
export interface Learning {
  /** Behaviors per category so far. */
  counts: Partial<Record<Category, number>>;
  /** First-seen time of the newest behavior per category, and over all; 0 when none. */
  lastNew: Partial<Record<Category, number>>;
  newest: number;
  /** New behaviors per interval of the window so far (20 intervals), per category: the report's curve, live. */
  curves: Partial<Record<Category, number[]>>;
}

export function learning(set: BehaviorSet, window: { start: number; end: number }): Learning {
  const c = convergence(set, window);
  const out: Learning = { counts: {}, lastNew: {}, newest: 0, curves: {} };
  for (const [category, k] of Object.entries(c.categories)) out.curves[category as Category] = k.curve;
  for (const category of CATEGORIES) {
    const items = Object.values(set[category] ?? {});
    if (items.length === 0) continue;
    out.counts[category] = items.length;
    const newest = Math.max(0, ...items.map((item) => item.first));
    out.lastNew[category] = newest;
    out.newest = Math.max(out.newest, newest);
  }
  return out;
}
