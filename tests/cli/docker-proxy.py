#!/usr/bin/env python3
"""A pass-through between a client and the Docker engine's unix socket that
writes down every request it forwards: so a test can tell which calls berth
made to the engine, and when.

    docker-proxy.py LISTEN_SOCKET ENGINE_SOCKET LOG

LOG gets one line per request, "METHOD PATH", flushed as it is forwarded.
Bytes go through unchanged both ways; requests are found by parsing the
client's side (HTTP/1.1: headers, then a Content-Length or chunked body);
after a request that upgrades the connection (exec's attach), the rest of
that connection is passed through unparsed. SIGUSR1 cuts every connection
that carries an events stream (GET .../events), as a restarted engine or a
dropped socket would, and refuses new ones (closes the connection) until
SIGUSR2; both are noted in LOG as lines starting with "#". SIGTERM ends it.
"""
import os
import signal
import socket
import sys
import threading

listen_path, engine_path, log_path = sys.argv[1:4]
log_lock = threading.Lock()
log = open(log_path, "a", buffering=1)
events_conns, conns_lock = set(), threading.Lock()
blocked = False


def write_log(line):
    with log_lock:
        log.write(line + "\n")


def pump(src, dst):
    """Raw bytes from src to dst until either side ends."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Reader:
    """Buffered reads from the client that forward what they consume."""

    def __init__(self, src, dst):
        self.src, self.dst, self.buf = src, dst, b""

    def fill(self):
        data = self.src.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        self.dst.sendall(out)
        return out[:-2]

    def skip(self, n):
        while n > 0:
            if not self.buf:
                self.fill()
            out, self.buf = self.buf[:n], self.buf[n:]
            self.dst.sendall(out)
            n -= len(out)


def client_side(client, engine):
    r = Reader(client, engine)
    try:
        while True:
            request = r.line().decode("latin-1")
            headers = {}
            while True:
                h = r.line().decode("latin-1")
                if not h:
                    break
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            parts = request.split()
            if len(parts) >= 2:
                events = parts[0] == "GET" and parts[1].split("?")[0].endswith("/events")
                if events and blocked:
                    write_log(f"# refused {parts[0]} {parts[1]}")
                    break
                write_log(f"{parts[0]} {parts[1]}")
                if events:
                    with conns_lock:
                        events_conns.add(client)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size = int(r.line().split(b";")[0], 16)
                    r.skip(size + 2)
                    if size == 0:
                        break
            else:
                r.skip(int(headers.get("content-length", "0") or 0))
            if "upgrade" in headers:
                if r.buf:
                    engine.sendall(r.buf)
                pump(client, engine)
                return
    except (EOFError, OSError, ValueError):
        pass
    for s in (client, engine):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client):
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        engine.connect(engine_path)
    except OSError:
        client.close()
        return
    down = threading.Thread(target=pump, args=(engine, client), daemon=True)
    down.start()
    client_side(client, engine)
    down.join()
    with conns_lock:
        events_conns.discard(client)
    client.close()
    engine.close()


def cut_events(*_):
    global blocked
    blocked = True
    with conns_lock:
        cut = list(events_conns)
    for s in cut:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    write_log("# cut events")


def allow_events(*_):
    global blocked
    blocked = False
    write_log("# events allowed")


signal.signal(signal.SIGUSR1, cut_events)
signal.signal(signal.SIGUSR2, allow_events)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
try:
    os.unlink(listen_path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen_path)
srv.listen(64)
while True:
    try:
        c, _ = srv.accept()
    except InterruptedError:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
