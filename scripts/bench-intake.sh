#!/usr/bin/env bash
# Measures the webhook intake: starts a release api on the local services with a throwaway
# queue prefix, drives it with `ember loadgen` (batches of 100 and of 1, at full speed and at
# half speed), prints one JSON summary per run, then deletes the bench queues.
#
#   scripts/bench-intake.sh [SECONDS]     (default 20 s per run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
cargo build --release -p ember --quiet
bin=target/release/ember
prefix="bench_$(date +%s)"
port=18181
export EMBER_HUBSPOT__CLIENT_SECRET=bench-secret
export EMBER_AMQP__PREFIX=$prefix
export EMBER_SERVER__PORT=$port
export EMBER_PUBLIC_BASE_URL=http://127.0.0.1:$port
export EMBER_DATABASE__URL="postgres://postgres@127.0.0.1:5432/$prefix?sslmode=disable"
# Every event is queued (as for an installed portal) without a portal table lookup per portal.
export EMBER_INTAKE__QUEUE_UNKNOWN_PORTALS=true
export RUST_LOG=warn

$bin migrate >/dev/null
$bin api & api=$!
cleanup() {
  kill "$api" 2>/dev/null || true
  wait "$api" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$prefix\" WITH (FORCE)" >/dev/null 2>&1 || true
  for q in "$prefix.events" "$prefix.dead" "$prefix.retry.1s" "$prefix.retry.10s" "$prefix.retry.1m" "$prefix.retry.10m"; do
    rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
  for x in "$prefix.events" "$prefix.dead" "$prefix.retry"; do rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"bench\">>)." >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

run() { $bin loadgen --url "http://127.0.0.1:$port" --duration "$seconds" --api-pid "$api" --json "$@"; }
purge() { rabbitmqctl -q purge_queue "$prefix.events" >/dev/null; }

echo "# batches of 100, full speed";          run --batch 100 --concurrency 32; purge
echo "# batches of 1, full speed";            run --batch 1 --concurrency 64;   purge
echo "# batches of 100 at 500 requests/s";    run --batch 100 --concurrency 32 --rate 500; purge
echo "# batches of 1 at 5,000 requests/s";    run --batch 1 --concurrency 64 --rate 5000; purge
