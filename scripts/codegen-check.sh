#!/usr/bin/env bash
# Frontend kit check: installs pinned graphql-codegen packages into a
# temporary directory (never globally), runs examples/codegen.ts against the
# committed schema.graphql and the operations in examples/operations/, and
# checks the custom scalars came out as docs/scalars.md says. Codegen fails
# on an operation that does not validate against the schema and, with
# strictScalars, on a scalar the config leaves unmapped. Bounded in time:
# CODEGEN_TIMEOUT seconds (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

CODEGEN_CLI_VERSION=7.4.3
CODEGEN_TYPESCRIPT_VERSION=6.1.0
CODEGEN_OPERATIONS_VERSION=6.1.9
GRAPHQL_VERSION=16.11.0
TYPESCRIPT_VERSION=5.9.3
timeout_s=${CODEGEN_TIMEOUT:-300}

work=$(mktemp -d)
trap '[ -n "${KEEP_CODEGEN:-}" ] || rm -rf "$work"' EXIT
deadline=$((SECONDS + timeout_s))
left() { echo $((deadline - SECONDS)); }

echo "installing @graphql-codegen/cli@$CODEGEN_CLI_VERSION into $work"
(cd "$work" && printf '{"private":true}\n' >package.json &&
  timeout "$(left)" npm install --no-audit --no-fund --silent --ignore-scripts \
    "@graphql-codegen/cli@$CODEGEN_CLI_VERSION" \
    "@graphql-codegen/typescript@$CODEGEN_TYPESCRIPT_VERSION" \
    "@graphql-codegen/typescript-operations@$CODEGEN_OPERATIONS_VERSION" \
    "graphql@$GRAPHQL_VERSION" "typescript@$TYPESCRIPT_VERSION")

# The config names its paths from the repository root; run it from a copy
# of what it reads, beside the installed packages.
mkdir -p "$work/examples"
cp schema.graphql "$work/"
cp examples/codegen.ts "$work/examples/"
cp -r examples/operations "$work/examples/"
(cd "$work" && timeout "$(left)" node_modules/.bin/graphql-codegen --config examples/codegen.ts)

out="$work/examples/generated/graphql.ts"
fail=0
expect() {
  if ! grep -qF -- "$1" "$out"; then echo "generated types lack: $1"; fail=1; fi
}
# typescript-operations inlines each scalar's type where it is used.
expect "amount: string | number;"          # Money in (CreditQuote's variable)
expect "installmentAmount: number"         # Money out
expect "rate: string"                      # Decimal out
expect "birthDate: string;"                # Date in
expect "startDate: string | null"          # Date out
expect "expiresAt: string"                 # DateTime out
expect "customFields: unknown"             # JSON out
expect "file?: File | null"                # Upload in
expect "export type RegisterMutation "
expect "export type RegistrationStatusSubscription "
if grep -nw "any" "$out"; then echo "a type came out as any"; fail=1; fi
[ "$fail" = 0 ] || { sed -n '1,40p' "$out"; exit 1; }

# The generated module type-checks (a File type needs the DOM library).
cat >"$work/tsconfig.json" <<'JSON'
{"compilerOptions":{"strict":true,"noEmit":true,"target":"ES2022","module":"ESNext","moduleResolution":"Bundler","lib":["ES2022","DOM"],"skipLibCheck":true},"files":["examples/generated/graphql.ts"]}
JSON
(cd "$work" && timeout "$(left)" node_modules/.bin/tsc -p tsconfig.json)
echo "codegen: every custom scalar mapped, $(ls examples/operations | wc -l) operations typed and type-checked"
