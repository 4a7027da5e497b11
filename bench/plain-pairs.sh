#!/bin/bash
# The plain stack (bench/plain/compose.yaml), berth and docker-compose 1.29
# paired: ROUNDS pairs (default 3) of cold up (after down --volumes) to all
# five containers healthy (polled every 50 ms), and for each, when the
# engine's RabbitMQ healthchecks ran and passed (from its health log, in
# seconds after the container's start): "start-end:exit". It shows the
# engine's health-check cadence that both tools wait on.
#   bench/plain-pairs.sh [ROUNDS]     needs build/berth, docker-compose
set -u   # not -e: the poll tolerates a container not listed yet
rounds=${1:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
berth=${BERTH:-$root/build/berth}
cd "$root/bench/plain"
run() {
  tool=$1
  if [ $tool = berth ]; then "$berth" -p mqt down --volumes >/dev/null 2>&1; s=$(date +%s.%N); "$berth" -p mqt up >/dev/null 2>&1;
  else docker-compose -p mqtc down -v >/dev/null 2>&1; s=$(date +%s.%N); docker-compose -p mqtc up -d >/dev/null 2>&1; fi
  p=$([ $tool = berth ] && echo mqt || echo mqtc)
  while :; do
    n=$(docker ps -q --filter "name=${p}[-_]" | wc -l)
    ok=1; for c in $(docker ps -q --filter "name=${p}[-_]"); do st=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $c); [ "$st" = healthy -o "$st" = none ] || ok=0; done
    [ $n -ge 5 ] && [ $ok = 1 ] && break; sleep 0.05; done
  e=$(date +%s.%N)
  mq=$(docker ps -q --filter "name=${p}[-_]mq")
  python3 - "$s" "$e" "$(docker inspect $mq)" "$tool" <<'PY'
import sys,json,datetime
s,e=float(sys.argv[1]),float(sys.argv[2]); c=json.loads(sys.argv[3])[0]
def t(x):
  x=x[:26]+'Z' if '.' in x else x
  return datetime.datetime.strptime(x[:26],'%Y-%m-%dT%H:%M:%S.%f').replace(tzinfo=datetime.timezone.utc).timestamp()
st=t(c['State']['StartedAt'])
logs=c['State']['Health']['Log']
print(sys.argv[4], 'all-healthy %.2f'%(e-s), 'mq start %.2f'%(st-s), 'checks:', ' '.join('%.1f-%.1f:%d'%(t(l['Start'])-st,t(l['End'])-st,l['ExitCode']) for l in logs))
PY
}
for i in $(seq "$rounds"); do run berth; run compose; done
"$berth" -p mqt down --volumes >/dev/null 2>&1; docker-compose -p mqtc down -v >/dev/null 2>&1
