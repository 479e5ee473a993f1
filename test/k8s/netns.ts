/**
 * A network and mount namespace of the test's own, for a real node (test/k8s/node.ts): its
 * daemons talk on its loopback and a private address, and reach nothing outside (the only traffic
 * allowed here is to loopback or into namespaces a test makes). The test process, outside, reaches
 * a port inside through a forwarder: a host loopback port, a unix socket, and a process in the
 * namespace that connects to the port on its loopback.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { run } from '../helpers.js';

/** Inside the namespace: accept on a unix socket, connect to 127.0.0.1:PORT. */
const FORWARDER = `const net = require('node:net');
const [sock, port] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(Number(port), '127.0.0.1'); c.pipe(u).pipe(c); u.on('error', () => c.destroy()); c.on('error', () => u.destroy()); }).listen(sock, () => process.stdout.write('listening\\n'));`;

export class NetNs {
  private readonly children: ChildProcess[] = [];
  private readonly servers: Server[] = [];

  private constructor(
    private readonly holder: ChildProcess,
    readonly dir: string,
    /** The node's address on its private interface. */
    readonly address: string,
  ) {}

  /** A namespace held by a sleeping process, with loopback up and `address`/24 on one end of a veth pair inside it (this kernel has no dummy interfaces). */
  static async create(dir: string, address = '10.201.0.2'): Promise<NetNs> {
    const holder = spawn('unshare', ['--net', '--mount', '--propagation', 'private', '--fork', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
    const ns = new NetNs(holder, dir, address);
    // unshare forks: the holder's child is the process in the namespaces
    for (let i = 0; i < 100 && !(await ns.innerPid()); i++) await new Promise((r) => setTimeout(r, 20));
    for (const cmd of [['ip', 'link', 'set', 'lo', 'up'], ['ip', 'link', 'add', 'node0', 'type', 'veth', 'peer', 'name', 'node0p'], ['ip', 'addr', 'add', `${address}/24`, 'dev', 'node0'], ['ip', 'link', 'set', 'node0p', 'up'], ['ip', 'link', 'set', 'node0', 'up']]) {
      const r = await ns.run(cmd[0]!, cmd.slice(1));
      if (r.code !== 0) {
        await ns.destroy();
        throw new Error(`${cmd.join(' ')} in the node's namespace: ${r.stderr}`);
      }
    }
    return ns;
  }

  private inner: number | undefined;
  private async innerPid(): Promise<number | undefined> {
    if (this.inner) return this.inner;
    const r = await run('pgrep', ['-P', String(this.holder.pid)]);
    const pid = Number(r.stdout.trim().split('\n')[0]);
    if (pid > 0) this.inner = pid;
    return this.inner;
  }

  private nsenter(): string[] {
    return ['-t', String(this.inner), '--net', '--mount'];
  }

  /** Runs a command in the namespace to its end. */
  run(cmd: string, args: string[]) {
    return run('nsenter', [...this.nsenter(), '--', cmd, ...args]);
  }

  /** Starts a daemon in the namespace; it is stopped with the namespace. */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('nsenter', [...this.nsenter(), '--', cmd, ...args], opts);
    this.children.push(child);
    return child;
  }

  /** A host loopback port that reaches 127.0.0.1:`port` inside. */
  async forward(port: number): Promise<number> {
    const sock = join(this.dir, `forward-${port}.sock`);
    const inside = this.spawn(process.execPath, ['-e', FORWARDER, sock, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      inside.stdout!.once('data', () => resolve());
      inside.once('exit', (code) => reject(new Error(`the forwarder to ${port} exited (${code})`)));
    });
    const server = createServer((c: Socket) => {
      const u = createConnection(sock);
      c.pipe(u).pipe(c);
      u.on('error', () => c.destroy());
      c.on('error', () => u.destroy());
    });
    this.servers.push(server);
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  }

  async destroy(): Promise<void> {
    for (const s of this.servers) s.close();
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.holder.kill('SIGKILL');
    if (this.inner) process.kill(this.inner, 'SIGKILL');
  }
}
