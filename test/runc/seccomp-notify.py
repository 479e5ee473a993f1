"""Seccomp user-notification listener for runc's linux.seccomp.listenerPath: counts denied syscalls.

runc 1.1 refuses linux.seccomp.flags (SECCOMP_FILTER_FLAG_LOG), so denials cannot be logged by the
kernel. Instead the profile's refused syscalls go to SCMP_ACT_NOTIFY (see seccomp-notify.ts) and
this listener answers every notification with EPERM, which is what SCMP_ACT_ERRNO would have
returned, and prints one JSON line per denial: {"container", "pid", "nr"}.

Usage: python3 seccomp-notify.py SOCKET. Lines: {"listening"}, {"container", "attached"} when
runc hands over a filter, a denial line per refused syscall, {"container", "detached"} when the
filter's last process is gone.
"""
import errno
import fcntl
import json
import os
import select
import socket
import struct
import sys
import threading

# _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp) (linux/seccomp.h).
NOTIF_SIZE = 80  # u64 id, u32 pid, u32 flags, struct seccomp_data (int nr, u32 arch, u64 ip, u64 args[6])
RESP_SIZE = 24  # u64 id, s64 val, s32 error, u32 flags
IOCTL_RECV = 0xC0000000 | (NOTIF_SIZE << 16) | (ord("!") << 8) | 0
IOCTL_SEND = 0xC0000000 | (RESP_SIZE << 16) | (ord("!") << 8) | 1

lock = threading.Lock()


def emit(record):
    with lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def serve(fd, container):
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        events = poller.poll()
        if not any(e & select.POLLIN for _, e in events):
            break  # POLLHUP: every process using the filter is gone
        notif = bytearray(NOTIF_SIZE)  # the kernel wants it zeroed
        try:
            fcntl.ioctl(fd, IOCTL_RECV, notif, True)
        except OSError as e:
            if e.errno in (errno.EINTR, errno.ENOENT):
                continue
            break
        notif_id, pid, _flags, nr = struct.unpack_from("=QIIi", notif, 0)
        try:
            fcntl.ioctl(fd, IOCTL_SEND, bytearray(struct.pack("=QqiI", notif_id, 0, -errno.EPERM, 0)), True)
        except OSError:
            pass  # the process died meanwhile
        emit({"container": container, "pid": pid, "nr": nr})
    os.close(fd)
    emit({"container": container, "detached": True})


def main():
    path = sys.argv[1]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    emit({"listening": path})
    while True:
        conn, _ = server.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 8)
        conn.close()
        state = json.loads(msg)
        container = state.get("state", {}).get("id")
        names = state.get("fds", [])
        emit({"container": container, "attached": state.get("pid")})
        for name, fd in zip(names, fds):
            if name == "seccompFd":
                threading.Thread(target=serve, args=(fd, container), daemon=True).start()
            else:
                os.close(fd)


if __name__ == "__main__":
    main()
