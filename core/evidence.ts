/** What a rule, verdict or advice line rests on: one behavior of the model, as a person reads it. */
import { total, type Category, type Item } from './behavior.js';

export interface Evidence {
  category: Category;
  /** The model key: path or pattern, syscall, capability, socket, ... */
  key: string;
  /** The raw path before generalisation, when it differs. */
  raw?: string;
  /** ISO times; absent when the source had none (a model imported from vArmor). */
  first?: string;
  last?: string;
  count: number;
  /** Process names, when the collector recorded them (sets.comm). */
  processes?: string[];
}

export function evidence(category: Category, key: string, item: Item): Evidence {
  const e: Evidence = { category, key, count: total(item) };
  if (item.raw !== undefined && item.raw !== key) e.raw = item.raw;
  if (item.first > 0) {
    e.first = new Date(item.first).toISOString();
    e.last = new Date(item.last).toISOString();
  }
  const processes = item.sets?.comm;
  if (processes?.length) e.processes = processes;
  return e;
}

/** One line for text renderings: `key (raw) first seen ..., N times, by ...`. */
export function describe(e: Evidence): string {
  const parts = [e.raw ? `${e.key} (seen as ${e.raw})` : e.key];
  if (e.first) parts.push(`first seen ${e.first}`);
  parts.push(`${e.count} time${e.count === 1 ? '' : 's'}`);
  if (e.processes) parts.push(`by ${e.processes.join(', ')}`);
  return parts.join(', ');
}
