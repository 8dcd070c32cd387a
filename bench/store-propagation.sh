#!/usr/bin/env bash
# Propagation of a policy change through one Redis: from the start of a save
# until three gateways' stores all hold the new version. Prints a table.
#   bench/store-propagation.sh [WRITES]        (PROFILE=dev for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/_redis.sh
cargo run -q --profile "${PROFILE:-release}" -p graygate-store --example propagation -- "$REDIS_URL" "${1:-1000}"
