#!/usr/bin/env bash
# `eval "$(berth env api)"` is what berth's help tells users to run, in
# repositories they may just have cloned: whatever the manifest says, it
# sets variables and runs nothing.
#
#   passwords  postgres and redis passwords holding ', $(...), backticks,
#              ", \ and $$: up provisions them (a $$ does not end the
#              role's DO block), redis's probe authenticates with its
#              password, and neither is on a container's command line or
#              in its environment (docker inspect, ps on the host)
#   env        eval of berth env sets each URL to exactly the value expected
#              (credentials percent-encoded) and runs none of the commands
#   hostile    a manifest whose uses.as is "$(touch ...)" and whose
#              uses.database is "x'; touch ...; '", against the same running
#              instances: config and env refuse it (exit 2, naming the line),
#              env prints nothing to eval, and nothing runs
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test envq

# The password as berth reads it ($$ in the manifest is one $).
PW="it's \$(touch $WORK/pwned-1) \`touch $WORK/pwned-2\` \"q\" \\ \$\$ end"
pwned() { ls "$WORK"/pwned-* 2>/dev/null || true; }

# Single-quoted YAML: '' is a quote; every $ doubled for interpolation.
yaml_pw=$(python3 -c 'import sys; print("'"'"'" + sys.argv[1].replace("'"'"'", "'"''"'").replace("$", "$$") + "'"'"'")' "$PW")
cat >"$MANIFEST" <<EOF
infra:
  db:
    kind: postgres
    databases:
      - name: app
        password: $yaml_pw
  cache:
    kind: redis
    password: $yaml_pw
services:
  api:
    image: $RUNTIME_IMAGE
    command: ["sleep", "100000"]
    uses:
      db: {database: app}
      cache: {as: CACHE_URL}
EOF

# --- passwords: provisioned, and nowhere docker inspect or ps shows ---------
capture b config --json --show-secrets
[ "$RC" = 0 ] || fail "config exited $RC"
python3 -c 'import json, sys; d = json.load(sys.stdin)["infra"]
assert d["cache"]["password"] == d["db"]["databases"][0]["password"] == sys.argv[1]' "$PW" <<<"$OUT" ||
  fail "config does not read the password as written"
capture b up
[ "$RC" = 0 ] || fail "up exited $RC (the password broke provisioning, or redis's AUTH)"
[ -z "$(pwned)" ] || fail "up ran a command of the password: $(pwned)"
for svc in cache db; do
  id=$(id_of "$svc")
  [ -n "$id" ] || fail "no container for $svc"
  docker inspect "$id" | grep -q "pwned-2" && fail "docker inspect of $svc shows the password"
done
docker exec "$(id_of cache)" sh -c 'cat /proc/[0-9]*/cmdline' | tr '\0' ' ' | grep -q pwned &&
  fail "redis's command line holds the password"
pgrep -f "pwned-2" >/dev/null && fail "ps on the host shows the password"

# --- env: the exact values, nothing run ----------------------------------------
port_of() { docker port "$(id_of "$1")" "$2/tcp" | sed -n 's/^127\.0\.0\.1://p' | head -n 1; }
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-._~"))' "$PW")
want_db="postgres://app:$enc@127.0.0.1:$(port_of db 5432)/app"
want_cache="redis://:$enc@127.0.0.1:$(port_of cache 6379)/0"
capture b env api
[ "$RC" = 0 ] || fail "env api exited $RC"
env_out=$OUT
(
  cd "$WORK"
  unset DATABASE_URL CACHE_URL
  eval "$env_out"
  [ "${DATABASE_URL-}" = "$want_db" ] || fail "DATABASE_URL is '${DATABASE_URL-}', want '$want_db'"
  [ "${CACHE_URL-}" = "$want_cache" ] || fail "CACHE_URL is '${CACHE_URL-}', want '$want_cache'"
  [ -z "$(pwned)" ] || fail "eval of berth env ran a command: $(pwned)"
  # The URLs work: the encoded passwords are the ones provisioned.
  docker run --rm --network host --label "berth.test=$PROJECT" \
    -e DATABASE_URL="$DATABASE_URL" -e CACHE_URL="$CACHE_URL" "$RUNTIME_IMAGE" python3 -c '
import os, psycopg2, redis
psycopg2.connect(os.environ["DATABASE_URL"]).close()
assert redis.Redis.from_url(os.environ["CACHE_URL"]).ping()
print("host client ok")' || fail "the URLs of berth env api do not work: $env_out"
)
capture b env
[ "$RC" = 0 ] || fail "env exited $RC"
(
  eval "$OUT"
  [ "${CACHE_REDIS_URL-}" = "$want_cache" ] || fail "CACHE_REDIS_URL is '${CACHE_REDIS_URL-}'"
  [ -z "$(pwned)" ] || fail "eval of berth env ran a command: $(pwned)"
)

# --- hostile: refused by config and env, against the running instances -------
HOSTILE=$WORK/hostile.yaml
cat >"$HOSTILE" <<EOF
infra:
  db: {kind: postgres}
  cache: {kind: redis}
services:
  api:
    image: $RUNTIME_IMAGE
    uses:
      db: {database: "x'; touch $WORK/pwned-3; '"}
      cache: {as: "\$\$(touch $WORK/pwned-4)"}
EOF
has() { grep -Fq -- "$1" <<<"$ERR"; }
for cmd in config "env api" env; do
  # shellcheck disable=SC2086 # cmd is words
  capture "$BERTH" --no-color -p "$PROJECT" -f "$HOSTILE" $cmd
  [ "$RC" = 2 ] || fail "$cmd of the hostile manifest exited $RC, want 2"
  if ! { has "hostile.yaml:8:" && has "services.api.uses.db.database: \"x'; touch"; }; then
    fail "$cmd does not name the database's line"
  fi
  if ! { has "hostile.yaml:9:" && has "services.api.uses.cache.as: \"\$(touch"; }; then
    fail "$cmd does not name the variable's line"
  fi
  [ -z "$OUT" ] || fail "$cmd printed something to eval: $OUT"
  (cd "$WORK" && eval "$OUT")
done
[ -z "$(pwned)" ] || fail "the hostile manifest ran a command: $(pwned)"

capture b down --volumes
[ "$RC" = 0 ] || fail "down exited $RC"
assert_nothing_left "down --volumes"
