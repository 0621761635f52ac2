#!/usr/bin/env bash
# npm run bench [-- --full | --profile | --help …]: raise the soft open-file limit to the
# hard one (idle capacity holds thousands of sockets per process; children inherit it),
# then run the harness from the working tree (no build needed).
set -euo pipefail
cd "$(dirname "$0")/.."
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then hard=1048576; fi
ulimit -Sn "$hard" 2>/dev/null || echo "bench: could not raise the open-file limit (soft $(ulimit -Sn))" >&2
exec node --import tsx bench/run.ts "$@"
