import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempDir } from '../helpers.js';

/** The parts of an OCI runtime config the tests change. */
export interface OciConfig {
  process: { args: string[]; terminal: boolean; noNewPrivileges?: boolean };
  root: { readonly: boolean };
  linux: { seccomp?: unknown };
}

export interface Bundle {
  dir: string;
  rootfs: string;
  config: OciConfig;
}

/** A minimal OCI bundle for runc: busybox-static as the whole root file system. */
export async function busyboxBundle(): Promise<Bundle> {
  const dir = await tempDir('bundle');
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'proc', 'dev', 'sys', 'etc']) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sh', 'cat', 'ls', 'echo', 'unshare', 'true', 'wc', 'sort']) await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc', 'hostname'), 'bundle\n');
  const spec = await run('runc', ['spec', '--bundle', dir]);
  if (spec.code !== 0) throw new Error(`runc spec failed: ${spec.stderr}`);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciConfig;
  config.process.terminal = false;
  config.root.readonly = false;
  return { dir, rootfs, config };
}

let containers = 0;

/** Runs the bundle's process once with the given args and config changes; returns its exit code and output. */
export async function runIn(bundle: Bundle, args: string[], change: (c: OciConfig) => void = () => {}) {
  const config = structuredClone(bundle.config);
  config.process.args = args;
  change(config);
  await writeFile(join(bundle.dir, 'config.json'), JSON.stringify(config));
  return run('runc', ['run', '--bundle', bundle.dir, `varmor-test-${process.pid}-${++containers}`]);
}
