import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, start, type Ran, type Started } from '../helpers.js';
import type { Bundle, OciConfig } from './bundle.js';

/**
 * A long-running runc container: `runc run` in the foreground (so its exit status is the
 * container's: 128+N when killed by signal N), with `runc exec` into it, signals and a forced
 * delete that is safe to call more than once.
 */
export class Container {
  private exit?: number | null;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly id: string,
    private readonly started: Started,
  ) {
    this.exited = started.done.then(
      (r) => (this.exit = r.code),
      () => (this.exit = null),
    );
  }

  /** Writes the config into the bundle and starts the container; the config file may be rewritten once this returns. */
  static async start(bundle: Bundle, config: OciConfig, id: string): Promise<Container> {
    await run('runc', ['delete', '-f', id]); // a leftover of an interrupted run
    await writeFile(join(bundle.dir, 'config.json'), JSON.stringify(config));
    await writeFile(join(bundle.dir, `${id}.json`), JSON.stringify(config, null, 1)); // kept, to see what a container ran with
    const container = new Container(id, start('runc', ['run', '--bundle', bundle.dir, id], { timeoutMs: 30 * 60_000 }));
    // runc reads config.json before it reports the container created.
    for (let i = 0; i < 200 && container.exit === undefined; i++) {
      const state = await container.state();
      if (state && state !== 'creating') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    return container;
  }

  /** The program's output so far (stdout and stderr). */
  output(): string {
    return this.started.stdout + this.started.stderr;
  }

  /** The exit status once `runc run` has returned, else undefined. */
  get exitCode(): number | null | undefined {
    return this.exit;
  }

  /** runc's status (`created`, `running`, `stopped`, ...), or undefined when there is no such container. */
  async state(): Promise<string | undefined> {
    const r = await run('runc', ['state', this.id]);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as { status: string }).status;
  }

  async running(): Promise<boolean> {
    return this.exit === undefined && (await this.state()) === 'running';
  }

  /** Runs a command in the container with the container's process settings (user, capabilities, seccomp, no_new_privs). */
  exec(args: string[], timeoutMs = 30_000): Promise<Ran> {
    return run('runc', ['exec', this.id, ...args], { timeoutMs });
  }

  /** Sends `signal` to the container's first process; after `graceMs` SIGKILL; resolves with the exit status. */
  async stop(signal: string, graceMs = 10_000): Promise<number | null> {
    if (this.exit !== undefined) return this.exit;
    await run('runc', ['kill', this.id, signal]);
    const timer = setTimeout(() => void run('runc', ['kill', this.id, 'KILL']), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the container and every process in it (idempotent). */
  async delete(): Promise<void> {
    await run('runc', ['delete', '-f', this.id]);
    if (this.exit === undefined) {
      const timer = setTimeout(() => this.started.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
