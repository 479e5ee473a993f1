import { Option, type Command } from 'commander';
import { CONTEXT_FLAG_NAMES, CONTEXT_FLAGS, type Context } from '../core/context.js';

/** The commands' options for the context flags (core/context.ts), and the advisor's Context they make. */

const options = CONTEXT_FLAG_NAMES.map((flag) => ({ flag, option: new Option(CONTEXT_FLAGS[flag].option, CONTEXT_FLAGS[flag].help) }));

/** What commander parsed from the context options: each under its option's attribute name. */
export type ContextFlags = Record<string, unknown>;

/** Adds the context flags to a command. */
export function contextOptions(cmd: Command): Command {
  for (const { option } of options) cmd.addOption(new Option(option.flags, option.description));
  return cmd;
}

export function contextFrom(opts: ContextFlags): Context {
  const c: Context = {};
  for (const { flag, option } of options) if (opts[option.attributeName()] === true) c[flag] = true;
  return c;
}
