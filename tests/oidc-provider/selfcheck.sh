#!/usr/bin/env bash
# Runs selfcheck.mjs, installing the npm packages first when they are missing.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/oidc-provider ] || npm ci --no-audit --no-fund --loglevel=error
exec node selfcheck.mjs "$@"
