#!/usr/bin/env bash
# check-redis-isolation.sh - prove that the test suite never touches a Redis
# it did not start.
#
# Puts a marker key in every database (0-15) of the Redis on 127.0.0.1:6379 -
# the one a developer would have - and records each database's size, the
# server's FLUSHDB/FLUSHALL counts and the connections it has received. Then
# it runs the given command (by default `go test -count=1 ./...`) with
# REDIS_URL unset, and checks that every marker and every database size is
# unchanged, that nothing flushed, and that nobody but this script connected.
# If nothing listens on 6379 it starts a throwaway redis-server there first
# (and stops it at the end); markers it put in an existing server are removed.
#
# Usage: scripts/check-redis-isolation.sh [command ...]
# Needs: redis-server and redis-cli (Debian's redis-server package).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

port=6379
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
info_field() { cli INFO "$1" | tr -d '\r' | awk -F'[:,=]' -v k="$2" '$1 == k { print $2; exit }'; }
flushes() {
  local stats; stats=$(cli INFO commandstats | tr -d '\r')
  printf '%s %s\n' \
    "$(awk -F'[:,=]' '$1 == "cmdstat_flushdb" { print $3 }' <<<"$stats")" \
    "$(awk -F'[:,=]' '$1 == "cmdstat_flushall" { print $3 }' <<<"$stats")"
}

for bin in redis-server redis-cli; do
  command -v "$bin" >/dev/null 2>&1 || { echo "check-redis-isolation: $bin not found (apt-get install redis-server)" >&2; exit 2; }
done

started=
if ! cli PING >/dev/null 2>&1; then
  dir=$(mktemp -d)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >/dev/null
  for _ in $(seq 1 50); do cli PING >/dev/null 2>&1 && break; sleep 0.1; done
  cli PING >/dev/null || { echo "check-redis-isolation: could not start redis-server on $port" >&2; exit 2; }
  started=$dir
  echo "check-redis-isolation: started a Redis on 127.0.0.1:$port to stand for a developer's own"
else
  echo "check-redis-isolation: using the Redis already on 127.0.0.1:$port (markers are removed afterwards)"
fi

nonce=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
marker="brilla-gateway:isolation-check:$nonce"
cleanup() {
  if [ -n "$started" ]; then
    cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    rm -rf "$started"
  else
    for db in $(seq 0 15); do cli -n "$db" DEL "$marker" >/dev/null 2>&1 || true; done
  fi
}
trap cleanup EXIT

sizes_before=()
for db in $(seq 0 15); do
  cli -n "$db" SET "$marker" "db$db" >/dev/null
  sizes_before+=("$(cli -n "$db" DBSIZE)")
done
flushes_before=$(flushes)
# The last connection this script makes before the run: the next INFO is the
# first after it, so the counter may grow by exactly one in between.
conns_before=$(info_field stats total_connections_received)

status=0
if [ $# -eq 0 ]; then set -- go test -count=1 ./...; fi
env -u REDIS_URL "$@" || status=$?

conns_after=$(info_field stats total_connections_received)
flushes_after=$(flushes)
problems=()
for db in $(seq 0 15); do
  value=$(cli -n "$db" GET "$marker")
  size=$(cli -n "$db" DBSIZE)
  [ "$value" = "db$db" ] || problems+=("db $db: the marker key is gone or changed ($value)")
  [ "$size" = "${sizes_before[$db]}" ] || problems+=("db $db: ${sizes_before[$db]} keys before, $size after")
done
[ "$flushes_before" = "$flushes_after" ] || problems+=("FLUSHDB/FLUSHALL counts went from '$flushes_before' to '$flushes_after'")
others=$((conns_after - conns_before - 1))
[ "$others" -eq 0 ] || problems+=("$others connection(s) other than this script's reached 127.0.0.1:$port during the run")

if [ ${#problems[@]} -gt 0 ]; then
  printf 'check-redis-isolation: FAILED: the run touched the Redis on 127.0.0.1:%s:\n' "$port" >&2
  printf '  %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "check-redis-isolation: OK: databases 0-15 of 127.0.0.1:$port untouched (markers and sizes unchanged, no flush, no connection from the run)"
exit "$status"
