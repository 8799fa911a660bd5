#!/usr/bin/env bash
# The image recipe (deploy/Dockerfile) builds the gateway and the simulator
# with CGO_ENABLED=0 into distroless/static (or scratch), which has no libc:
# build them the same way and prove each binary is static, i.e. needs
# nothing from the image at run time. Optional: OUT=dir keeps the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-}
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"

fail=0
for cmd in gateway upstream-sim; do
  bin="$out/$cmd"
  CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o "$bin" "./cmd/$cmd"
  info=$(go version -m "$bin")
  if ! grep -q $'\tbuild\tCGO_ENABLED=0$' <<<"$info"; then
    echo "$cmd: not built with CGO_ENABLED=0"; fail=1
  fi
  if command -v file >/dev/null 2>&1; then
    desc=$(file -b "$bin")
    case "$desc" in
      *"statically linked"*) ;;
      *) echo "$cmd: file says: $desc"; fail=1 ;;
    esac
  fi
  # ldd exits non-zero on a static binary ("not a dynamic executable").
  if ldd_out=$(ldd "$bin" 2>&1); then
    echo "$cmd: ldd lists shared libraries:"; echo "$ldd_out"; fail=1
  fi
  echo "$cmd: static ($(du -h "$bin" | cut -f1), $(file -b "$bin" 2>/dev/null | cut -d, -f1-2 || echo ELF))"
done
[ "$fail" = 0 ] || { echo "a binary is not static: the distroless/scratch image could not run it"; exit 1; }
