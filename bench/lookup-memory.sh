#!/usr/bin/env bash
# Pushes IDS distinct user ids through per-user key lookups and prints the
# peak RSS against the cache's byte bound. Prints a table.
#   bench/lookup-memory.sh [IDS] [MAX_BYTES]   (PROFILE=dev for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/_redis.sh
cargo run -q --profile "${PROFILE:-release}" -p graygate-store --example lookup_memory -- "$REDIS_URL" "${1:-10000000}" "${2:-67108864}"
