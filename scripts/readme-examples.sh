#!/usr/bin/env bash
# The README's shell examples run as written. Every ```sh block preceded by
# the line `<!-- readme-check: run -->` is run, from the repository root,
# against `gateway -demo` started on a free loopback port: the only change
# made to a block is `localhost:8080` becoming that port. A block fails when
# it exits non-zero, prints nothing with "data", or prints "errors".
# (Blocks without the mark start processes or need Redis on 6379: the top
# two commands, the three-replica recipe.) It also checks the Go version
# the README states is go.mod's. Bounded by README_TIMEOUT seconds (300).
set -euo pipefail
cd "$(dirname "$0")/.."
timeout_s=${README_TIMEOUT:-300}
deadline=$((SECONDS + timeout_s))
left() { echo $((deadline - SECONDS)); }

go_version=$(sed -n 's/^go \([0-9]*\.[0-9]*\).*/\1/p' go.mod)
if ! grep -qF "Go (${go_version} or newer" README.md; then
  echo "README.md must say Go (${go_version} or newer, as go.mod's \`go ${go_version}\` line requires"
  grep -n "Go (" README.md || true
  exit 1
fi
echo "README states Go ${go_version}, as go.mod does"

work=$(mktemp -d)
gateway_pid=
cleanup() {
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Extract the marked blocks, one file each.
awk -v dir="$work" '
  /^<!-- readme-check: run -->$/ { marked = 1; next }
  marked && /^```sh$/ { n++; file = sprintf("%s/block-%02d.sh", dir, n); inblock = 1; marked = 0; next }
  inblock && /^```$/ { inblock = 0; close(file); next }
  inblock { print > file; next }
  { marked = 0 }
' README.md
blocks=("$work"/block-*.sh)
if [ ! -e "${blocks[0]}" ]; then echo "no <!-- readme-check: run --> blocks in README.md"; exit 1; fi

echo "building the gateway"
timeout "$(left)" go build -o "$work/gateway" ./cmd/gateway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
# Registrations are decided in 2 s instead of 30 so that the live example ends.
"$work/gateway" -demo -addr "127.0.0.1:$port" -sim-registration-delay 2s >"$work/gateway.log" 2>&1 &
gateway_pid=$!
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
  if ! kill -0 "$gateway_pid" 2>/dev/null; then cat "$work/gateway.log"; echo "the gateway exited"; exit 1; fi
  if [ "$(left)" -le 0 ]; then echo "the gateway did not start in time"; exit 1; fi
  sleep 0.2
done

failed=0
for block in "${blocks[@]}"; do
  name=$(basename "$block" .sh)
  sed -i "s/localhost:8080/127.0.0.1:$port/g" "$block"
  if ! out=$(timeout 60 bash -euo pipefail "$block" 2>&1); then
    echo "FAIL $name (exit status)"; failed=1
  elif ! grep -q '"data"' <<<"$out" || grep -q '"errors"' <<<"$out"; then
    echo "FAIL $name (no data, or errors)"; failed=1
  elif grep -q 'text/event-stream' "$block" && ! grep -q '^event: complete' <<<"$out"; then
    echo "FAIL $name (the stream did not complete)"; failed=1
  else
    echo "ok   $name: $(head -c 160 <<<"$out" | tr '\n' ' ')"
    continue
  fi
  sed 's/^/    | /' "$block"
  echo "$out" | head -c 2000 | sed 's/^/    > /'
done
[ "$failed" = 0 ] || { echo "some README examples do not run as written"; exit 1; }
echo "${#blocks[@]} README examples ran as written"
