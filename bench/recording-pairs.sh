#!/usr/bin/env bash
# Recording off and on, alternating, with the bench's steady profile (docs/records.md, "Measurements").
#   bench/recording-pairs.sh OUT_DIR TARGET [ROUNDS]      e.g. bench/recording-pairs.sh /tmp/rec classwire-redis 3
# MODES (default "off worker main"): off = no records; worker = records in the recording thread;
# main = records on the event loop. Each run records into a database of its own on $POSTGRES
# (default postgres://postgres@127.0.0.1:5432), dropped afterwards; prints the summary row per run
# and the number of events recorded. BENCH_ARGS adds bench flags (e.g. --no-taskset). Needs `npm run build` first and psql.
set -euo pipefail
export PGOPTIONS=--client-min-messages=warning
out=$1 target=$2 rounds=${3:-2}
postgres=${POSTGRES:-postgres://postgres@127.0.0.1:5432}
cd "$(dirname "$0")/.."
for round in $(seq 1 "$rounds"); do
  for mode in ${MODES:-off worker main}; do
    db="classwire_bench_${round}_${mode}"
    psql "$postgres/postgres" -qc "drop database if exists $db" -c "create database $db" >/dev/null
    case $mode in
      off) envs=() ;;
      worker) envs=(CLASSWIRE_DATABASE_URL="$postgres/$db" CLASSWIRE_RECORDS_WORKER=1) ;;
      main) envs=(CLASSWIRE_DATABASE_URL="$postgres/$db" CLASSWIRE_RECORDS_WORKER=0) ;;
      *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
    env "${envs[@]}" node bench/run.mjs --profiles steady --targets "$target" --duration 5 --warmup 3 ${BENCH_ARGS:-} --out "$out/$round-$mode" >/dev/null 2>&1
    events=-
    [ "$mode" = off ] || events=$(psql "$postgres/$db" -Atc "select count(*) from record_events")
    echo "round $round $mode events=$events $(grep '^| Classwire' "$out/$round-$mode/summary.md" | head -1)"
    psql "$postgres/postgres" -qc "drop database if exists $db" >/dev/null
  done
done
