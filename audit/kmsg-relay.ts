import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { DeviceSource } from './tail.js';

/** How long the relay waits on an empty ring before it looks again. */
const IDLE_MS = 50;

/**
 * Relays the kernel's log ring to whoever connects to a unix socket: each connection gets every
 * record from the oldest the ring holds on, one line each (the record's first line, as
 * /dev/kmsg gives it, sequence number included), and `#overwritten` where the ring overwrote
 * records first. It reads nothing from its clients. Run alone in the container the device is
 * granted to, so the node agent does not need the device (the chart's `kmsg` container).
 */
export function relayKmsg(socketPath: string, device = '/dev/kmsg'): Server {
  rmSync(socketPath, { force: true });
  const server = createServer((socket) => stream(socket, device));
  server.listen(socketPath, () => chmodSync(socketPath, 0o600));
  return server;
}

function stream(socket: Socket, device: string): void {
  const source = new DeviceSource(device);
  let open = true;
  socket.on('close', () => (open = false));
  socket.on('error', () => (open = false));
  const pump = () => {
    for (;;) {
      if (!open) return source.close();
      let line: string | undefined;
      try {
        line = source.read();
      } catch (err) {
        socket.destroy(err as Error);
        return source.close();
      }
      if (line === undefined) return void setTimeout(pump, IDLE_MS);
      if (!socket.write(`${line}\n`, 'latin1')) return void socket.once('drain', pump);
    }
  };
  pump();
}
