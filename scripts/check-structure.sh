#!/usr/bin/env bash
# Structure rules that a compiler does not check (ARCHITECTURE.md, "Invariants" and "Workspace"):
# - SQL lives in `core::store` only: no sqlx query outside core/src/store in the product crates
#   (test code may read and write rows directly);
# - no import cycle between the modules of a crate, down to four levels of nesting
#   (scripts/check-module-cycles.py --depth 4: `store::agencies` and `store::invites` count as two).
# Exits non-zero, naming each offending line, when a rule is broken.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
sql=$(grep -rnE 'sqlx::(query|query_as|query_scalar|raw_sql)(\(|::<)|AssertSqlSafe' \
  --include='*.rs' api/src worker/src cli/src core/src hubspot/src scoring/src calibrate/src sim/src \
  | grep -v '^core/src/store/' || true)
if [ -n "$sql" ]; then
  echo "SQL outside core::store (move it into a core/src/store module):" >&2
  echo "$sql" >&2
  status=1
else
  echo "no SQL outside core::store"
fi

python3 scripts/check-module-cycles.py --depth 4 scoring calibrate core hubspot api worker sim cli || status=1
exit $status
