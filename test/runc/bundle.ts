import { chmod, copyFile, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempDir } from '../helpers.js';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export type CapabilitySet = 'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient';

/** The parts of an OCI runtime config the tests change. */
export interface OciConfig {
  process: {
    args: string[];
    terminal: boolean;
    noNewPrivileges?: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    env: string[];
    cwd: string;
    capabilities?: Partial<Record<CapabilitySet, string[]>>;
    rlimits?: unknown[];
  };
  root: { path: string; readonly: boolean };
  mounts: OciMount[];
  linux: { seccomp?: unknown; namespaces: { type: string; path?: string }[] };
}

export interface Bundle {
  dir: string;
  rootfs: string;
  config: OciConfig;
}

/** runc's default config for a bundle directory, without a terminal. */
async function runcSpec(dir: string): Promise<OciConfig> {
  const spec = await run('runc', ['spec', '--bundle', dir]);
  if (spec.code !== 0) throw new Error(`runc spec failed: ${spec.stderr}`);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciConfig;
  config.process.terminal = false;
  return config;
}

/** A minimal OCI bundle for runc: busybox-static as the whole root file system. */
export async function busyboxBundle(): Promise<Bundle> {
  const dir = await tempDir('bundle');
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'proc', 'dev', 'sys', 'etc']) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sh', 'cat', 'ls', 'echo', 'unshare', 'true', 'wc', 'sort']) await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc', 'hostname'), 'bundle\n');
  const config = await runcSpec(dir);
  config.root.readonly = false;
  return { dir, rootfs, config };
}

/** Top-level directories of the host that a Debian image would bring: what the host bundle's root is made of. */
export const IMAGE_DIRS = ['usr', 'etc', 'var'] as const;

/**
 * An OCI bundle whose root file system is the host's own Debian (/usr, /etc, /var; /bin, /lib, ...
 * are the host's usr-merge links), as an image with the host's packages would be, without a
 * container engine: the image directories come from `imageMounts`, read-only or copy-on-write.
 */
export async function hostBundle(): Promise<Bundle> {
  const dir = await tempDir('bundle');
  const rootfs = join(dir, 'rootfs');
  for (const d of [...IMAGE_DIRS, 'proc', 'dev', 'sys', 'tmp', 'run', 'root', 'home', 'mnt']) await mkdir(join(rootfs, d), { recursive: true, mode: d === 'tmp' ? 0o1777 : 0o755 });
  for (const link of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const target = await lstat(join('/', link)).then((st) => (st.isSymbolicLink() ? readlink(join('/', link)) : undefined), () => undefined);
    if (target) await symlink(target, join(rootfs, link));
  }
  const config = await runcSpec(dir);
  delete config.process.rlimits; // the runtime's own limits, as a container under containerd gets
  config.process.env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'HOME=/root'];
  return { dir, rootfs, config };
}

let scratch = 0;

/**
 * The image directories of a host bundle: read-only bind mounts of the host's, or, for a
 * writable root, overlays whose writes go to a fresh scratch directory of the bundle (the host's
 * directories are never written).
 */
export async function imageMounts(bundle: Bundle, writable: boolean): Promise<OciMount[]> {
  const mounts: OciMount[] = [];
  for (const d of IMAGE_DIRS) {
    if (!writable) {
      mounts.push({ destination: `/${d}`, type: 'bind', source: `/${d}`, options: ['bind', 'ro'] });
      continue;
    }
    const layer = join(bundle.dir, 'overlay', String(++scratch), d);
    await mkdir(join(layer, 'upper'), { recursive: true });
    await mkdir(join(layer, 'work'), { recursive: true });
    mounts.push({ destination: `/${d}`, type: 'overlay', source: 'overlay', options: [`lowerdir=/${d}`, `upperdir=${layer}/upper`, `workdir=${layer}/work`] });
  }
  return mounts;
}

/**
 * An empty writable directory at `path`, as a Kubernetes emptyDir: a tmpfs, world-writable. runc
 * gives a tmpfs the mode of the directory it is mounted on when that exists, so the mount point in
 * the root file system is made 1777 first.
 */
export async function emptyDirMount(bundle: Bundle, path: string): Promise<OciMount> {
  const point = join(bundle.rootfs, path);
  await mkdir(point, { recursive: true });
  await chmod(point, 0o1777);
  return { destination: path, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=512m'] };
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
