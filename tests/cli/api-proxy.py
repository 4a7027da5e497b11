#!/usr/bin/env python3
"""A unix-socket proxy in front of the Docker engine that logs each API call.

    api-proxy.py LISTEN_SOCKET LOG_FILE [UPSTREAM_SOCKET]

Listens on LISTEN_SOCKET (removed first if it exists), forwards every
connection to UPSTREAM_SOCKET (default /var/run/docker.sock) and appends one
line per request, "METHOD PATH", to LOG_FILE, flushed as it goes. A test
points one command at it (DOCKER_HOST=unix://LISTEN_SOCKET) and counts the
lines.

Requests are parsed on the client -> engine direction: the request line, the
headers, then the body (Content-Length or chunked), so a keep-alive
connection logs each of its requests and a body (a tar archive, JSON) is
never taken for one. Once a request asks to upgrade the connection (attach,
exec start) or the bytes stop looking like HTTP, the rest of that direction
is piped untouched. The engine -> client direction is always piped as is.
Runs until killed (SIGTERM/SIGINT), removing LISTEN_SOCKET.
"""
import os
import re
import signal
import socket
import sys
import threading

REQUEST = re.compile(rb"^(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) (\S+) HTTP/1\.[01]$")


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, method, path):
        with self.lock:
            self.f.write("%s %s\n" % (method, path))
            self.f.flush()


class Reader:
    """Bytes from the client, forwarded to the engine as they are read."""

    def __init__(self, client, upstream):
        self.client, self.upstream, self.buf = client, upstream, b""

    def fill(self):
        data = self.client.recv(65536)
        if not data:
            raise EOFError
        self.upstream.sendall(data)
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("line too long")
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def skip(self, n):
        while len(self.buf) < n:
            n -= len(self.buf)
            self.buf = b""
            self.fill()
        self.buf = self.buf[n:]


def client_to_engine(r, log):
    """Parse and log requests while they look like HTTP; then just pipe."""
    try:
        while True:
            m = REQUEST.match(r.line())
            if not m:
                break
            log.write(m.group(1).decode(), m.group(2).decode(errors="replace"))
            length, chunked, upgrade = 0, False, False
            while True:
                h = r.line()
                if not h:
                    break
                name, _, value = h.partition(b":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value:
                    chunked = True
                elif name == b"upgrade" or (name == b"connection" and b"upgrade" in value):
                    upgrade = True
            if chunked:
                while True:
                    size = int(r.line().split(b";")[0], 16)
                    r.skip(size + 2)  # the chunk and its CRLF
                    if size == 0:
                        break
            else:
                r.skip(length)
            if upgrade:
                break
        # Not HTTP any more (a hijacked stream): forward the rest untouched.
        while True:
            data = r.client.recv(65536)
            if not data:
                break
            r.upstream.sendall(data)
    except (EOFError, OSError, ValueError):
        pass
    finally:
        try:
            r.upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def engine_to_client(upstream, client):
    try:
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass
    finally:
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, upstream_path, log):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(upstream_path)
    except OSError:
        client.close()
        return
    back = threading.Thread(target=engine_to_client, args=(upstream, client), daemon=True)
    back.start()
    client_to_engine(Reader(client, upstream), log)
    back.join()
    client.close()
    upstream.close()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    listen_path, log_path = sys.argv[1], sys.argv[2]
    upstream_path = sys.argv[3] if len(sys.argv) == 4 else "/var/run/docker.sock"
    log = Log(log_path)
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen_path + ".tmp")
    os.chmod(listen_path + ".tmp", 0o600)
    srv.listen(64)
    # Appears under its name only once it accepts: a caller may wait for it.
    os.rename(listen_path + ".tmp", listen_path)

    def stop(*_):
        try:
            os.unlink(listen_path)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, upstream_path, log), daemon=True).start()


if __name__ == "__main__":
    main()
