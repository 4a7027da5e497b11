#!/usr/bin/env bash
# berth ps against an engine whose answers carry what a terminal acts on
# (a service label that sets the window title, a state that clears the
# screen, a port address with a C1 control): shown as text, never raw. The
# engine is a fake on a private unix socket (no Docker needed), answering
# the ping and the container list.
set -euo pipefail
: "${BERTH:?path to the berth binary}"
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/engine.py" <<'PY'
import http.server, os, socketserver, sys

LIST = (b'[{"Id":"4f3c","Names":["/demo-api-1"],"State":"running\\u001b[2J",'
        b'"Status":"Up 1 minute","Created":1,'
        b'"Labels":{"berth.project":"demo","berth.service":"api\\u001b]0;pwned\\u0007"},'
        b'"Ports":[{"PublicPort":8080,"PrivatePort":80,"IP":"127.0.0.1\\u009b31m","Type":"tcp"}]}]')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = LIST if "/containers/json" in self.path else b"OK"
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

    def address_string(self):
        return "fake"


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


srv = Server(sys.argv[1], Handler)
open(sys.argv[2], "w").close()  # listening
srv.serve_forever()
PY
python3 "$work/engine.py" "$work/docker.sock" "$work/ready" &
pid=$!
for _ in $(seq 50); do [ -e "$work/ready" ] && break; sleep 0.1; done
[ -e "$work/ready" ] || fail "the fake engine did not start"

mkdir "$work/demo"
printf 'services:\n  api:\n    image: img\n' >"$work/demo/berth.yaml"
out=$(cd "$work/demo" && DOCKER_HOST="unix://$work/docker.sock" "$BERTH" --no-color ps) ||
  fail "ps exited $?: $out"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]' <<<"$out"; then
  fail "a raw control character in ps's output: $(od -c <<<"$out" | head -20)"
fi
grep -qF 'api\x1b]0;pwned\x07' <<<"$out" || fail "the service label is not shown as text: $out"
grep -qF 'running\x1b[2J' <<<"$out" || fail "the state is not shown as text: $out"
grep -qF 'http://(not an address):8080' <<<"$out" || fail "the bad address is not refused: $out"
echo "ok: ps shows the engine's control characters as text"
