#!/usr/bin/env bash
# check-playground.sh - prove the embedded GraphiQL playground renders offline.
#
# Runs playground.TestRenderInChromium, which serves the playground plus a fake
# /graphql (canned introspection) from an httptest server, loads it in headless
# Chromium (no network besides that server) and asserts that GraphiQL rendered
# its editors with the default query/headers, that the schema introspection
# carried the default X-Api-Key header and that there was no CSP violation.
# It then saves a 1280x800 screenshot.
#
# Usage: scripts/check-playground.sh [screenshot.png]   (default /tmp/playground.png)
# Needs: go, chromium (apt-get install chromium; or set CHROMIUM=/path/to/chrome).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shot=${1:-/tmp/playground.png}
case "$shot" in /*) ;; *) shot="$PWD/$shot" ;; esac

chromium=${CHROMIUM:-}
if [[ -z "$chromium" ]]; then
	for c in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$c" >/dev/null 2>&1; then chromium=$c; break; fi
	done
fi
if [[ -z "$chromium" ]] || ! command -v "$chromium" >/dev/null 2>&1; then
	echo "check-playground: no Chromium found; install it (apt-get install -y chromium) or set CHROMIUM" >&2
	exit 2
fi
echo "check-playground: using $(command -v "$chromium") ($("$chromium" --version 2>/dev/null | tail -n1))" >&2

rm -f "$shot"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$repo_root"
status=0
CHROMIUM="$chromium" PLAYGROUND_SCREENSHOT="$shot" \
	go test -count=1 -run '^TestRenderInChromium$' -v ./internal/edge/playground/ >"$log" 2>&1 || status=$?
# Drop Chromium's harmless D-Bus noise.
grep -v -e 'dbus' -e 'unexpected operator' "$log" || true

if [[ $status -ne 0 ]] || ! grep -q -- '--- PASS: TestRenderInChromium' "$log"; then
	echo "check-playground: FAILED" >&2
	exit 1
fi
if [[ ! -s "$shot" ]]; then
	echo "check-playground: FAILED: no screenshot at $shot" >&2
	exit 1
fi
echo "check-playground: OK; screenshot: $shot" >&2
