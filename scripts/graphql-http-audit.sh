#!/usr/bin/env bash
# GraphQL over HTTP conformance: installs the pinned graphql-http npm
# package into a temporary directory (never globally), starts the demo
# gateway on a free loopback port and runs graphql-http's serverAudits
# against it. Fails on any audit error or warning. Bounded in time: the
# whole run is cut after AUDIT_TIMEOUT seconds (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHQL_HTTP_VERSION=1.23.1
GRAPHQL_VERSION=16.11.0
timeout_s=${AUDIT_TIMEOUT:-300}

work=$(mktemp -d)
gateway_pid=
cleanup() {
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

deadline=$((SECONDS + timeout_s))
left() { echo $((deadline - SECONDS)); }

echo "installing graphql-http@$GRAPHQL_HTTP_VERSION into $work"
cp scripts/graphql-http-audit.mjs "$work/audit.mjs"
(cd "$work" && printf '{"private":true,"type":"module"}\n' >package.json &&
  timeout "$(left)" npm install --no-audit --no-fund --silent --ignore-scripts \
    "graphql-http@$GRAPHQL_HTTP_VERSION" "graphql@$GRAPHQL_VERSION")

echo "building the gateway"
timeout "$(left)" go build -o "$work/gateway" ./cmd/gateway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$work/gateway" -demo -addr "127.0.0.1:$port" >"$work/gateway.log" 2>&1 &
gateway_pid=$!

url="http://127.0.0.1:$port/graphql"
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
  if ! kill -0 "$gateway_pid" 2>/dev/null; then cat "$work/gateway.log"; echo "the gateway exited"; exit 1; fi
  if [ "$(left)" -le 0 ]; then echo "the gateway did not start in time"; exit 1; fi
  sleep 0.2
done

echo "auditing $url"
GRAPHQL_URL="$url" timeout "$(left)" node "$work/audit.mjs"
