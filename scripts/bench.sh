#!/usr/bin/env bash
# `make bench`: seeds BENCH_ROWS (1 000 000) activities and times an excel
# export end to end with the release binary, beside (a) the floor, a bare
# rust_xlsxwriter program writing the same Aktiviteter cells, each row
# made as it is written (shared/examples/xlsx_floor.rs), and (b) Python XlsxWriter in
# constant_memory mode writing the same cells from memory
# (scripts/bench_xlsxwriter.py). Prints wall time and peak RSS of each and
# the ratios. BENCH_RUNS (11) runs of the export and the floor take turns
# and their medians are compared. Then it imports the same number of
# activities into an empty data directory from JSON Lines and from a
# workbook in the template's columns (shared/examples/import_file.rs), as
# `activities import` does an upload, beside calamine alone reading the
# workbook's cells (shared/examples/xlsx_read_floor.rs), the floor under a
# workbook import, and SQLite alone inserting as many rows, made and
# sorted beforehand, with and without the counting index
# (shared/examples/sqlite_write_floor.rs), the floor under any import. Last, it reads BENCH_DYNAMO_ROWS
# (10 000) activities from DynamoDB as an export does and as one Query
# stream (shared/examples/dynamo_reads.rs), on moto and on dynalite (from
# node_modules), whose Query, like DynamoDB's, costs what the page holds
# rather than what the table holds. Writes its section of BENCHMARKS.md.
# Not a test: the figures depend on the machine, so nothing here fails on
# a slow one.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-11}
CARGO=${CARGO:-cargo}
PY=${PY:-.venv/bin/python}
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PY" -c "import xlsxwriter" 2>/dev/null || "$PY" -m pip install --quiet --disable-pip-version-check "XlsxWriter==3.3.1"
"$CARGO" build --release --locked --bin bufdir-exports
"$CARGO" build --release --locked -p shared --example xlsx_floor --example import_file --example xlsx_read_floor --example sqlite_write_floor --example dynamo_reads
bin="$target/release/bufdir-exports"
floor="$target/release/examples/xlsx_floor"
import_file="$target/release/examples/import_file"

echo "bench: seeding $ROWS activities (not timed)"
"$bin" activities seed --org org-bench --count "$ROWS" --year 2025 --seed 1 --data-dir "$work/data" >/dev/null
"$floor" "$ROWS" --dump "$work/rows.tsv"

# measure NAME CMD...: wall seconds and peak RSS (MB) of the whole process.
measure() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.out"
    read -r wall kb <"$work/$name.time"
    printf -v "${name}_wall" '%s' "$wall"
    rss=$((kb / 1024))
}

# The export and the floor take turns, RUNS times each, and the medians
# are compared: on a shared machine one run of either can be 20% off.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
export_walls=() floor_walls=() export_rss=0 floor_rss=0
for run in $(seq 1 "$RUNS"); do
    echo "bench: run $run of $RUNS: bufdir-exports export (excel, end to end)"
    measure export "$bin" export --org org-bench --from 2025-01-01 --to 2025-12-31 --format excel \
        --out "$work/export.xlsx" --data-dir "$work/data"
    export_walls+=("$export_wall")
    export_rss=$((export_rss > rss ? export_rss : rss))
    echo "bench: run $run of $RUNS: bare rust_xlsxwriter (the floor)"
    measure floor "$floor" "$ROWS" "$work/floor.xlsx"
    floor_walls+=("$floor_wall")
    floor_rss=$((floor_rss > rss ? floor_rss : rss))
done
export_wall=$(median "${export_walls[@]}")
floor_write=$(median "${floor_walls[@]}")
# Each run's export against the floor run right after it: the spread
# says how far one run of either can be trusted on this machine.
pair_ratios=()
for i in "${!export_walls[@]}"; do
    pair_ratios+=("$(awk -v a="${export_walls[$i]}" -v b="${floor_walls[$i]}" 'BEGIN { printf "%.2f", a / b }')")
done
echo "bench: Python XlsxWriter constant_memory"
measure python "$PY" scripts/bench_xlsxwriter.py "$work/rows.tsv" "$work/python.xlsx"
python_write=$(cat "$work/python.out")
python_rss=$rss

# Imports: each file into a data directory of its own, once (an import
# of a million rows is long enough that one run says what it costs).
echo "bench: writing the import files (not timed)"
"$import_file" "$ROWS" "$work/import.jsonl"
"$import_file" "$ROWS" "$work/import.xlsx"
rate() { awk -v n="$ROWS" -v s="$1" 'BEGIN { printf "%d", n / s }'; }
for fmt in jsonl xlsx; do
    echo "bench: activities import from .$fmt"
    measure "import_$fmt" "$bin" activities import --org org-bench --data-dir "$work/import-$fmt" "$work/import.$fmt"
    grep -q "imported $ROWS activities" "$work/import_$fmt.out" || { cat "$work/import_$fmt.out" >&2; exit 1; }
    printf -v "import_${fmt}_rss" '%s' "$rss"
done
echo "bench: calamine alone reading the workbook's cells"
read -r _ _ xlsx_read_floor < <("$target/release/examples/xlsx_read_floor" "$work/import.xlsx")
echo "bench: SQLite alone inserting the rows, with and without the counting index"
mkdir "$work/floor-db" "$work/floor-db-lean"
read -r _ sqlite_floor < <("$target/release/examples/sqlite_write_floor" "$ROWS" "$work/floor-db/activities.sqlite3")
read -r _ sqlite_floor_lean < <("$target/release/examples/sqlite_write_floor" "$ROWS" "$work/floor-db-lean/activities.sqlite3" without-counting-index)
sqlite_floor_rate=$(rate "$sqlite_floor") sqlite_floor_lean_rate=$(rate "$sqlite_floor_lean")
jsonl_rate=$(rate "$import_jsonl_wall") xlsx_rate=$(rate "$import_xlsx_wall") xlsx_floor_rate=$(rate "$xlsx_read_floor")
import_jsonl_size=$(du -m "$work/import.jsonl" | cut -f1) import_xlsx_size=$(du -m "$work/import.xlsx" | cut -f1)

DYNAMO_ROWS=${BENCH_DYNAMO_ROWS:-10000}
echo "bench: reading $DYNAMO_ROWS activities from DynamoDB on moto, a month at a time and as one stream"
on_moto=$("$target/release/examples/dynamo_reads" "$DYNAMO_ROWS" 3)
echo "bench: the same on dynalite"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node_modules/.bin/dynalite --host 127.0.0.1 --port "$port" --createTableMs 0 >"$work/dynalite.log" 2>&1 &
dynalite_pid=$!
trap 'kill "$dynalite_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
on_dynalite=$("$target/release/examples/dynamo_reads" "$DYNAMO_ROWS" 3 "http://127.0.0.1:$port")
kill "$dynalite_pid"
# field LINE KEY: the value after KEY in one of the example's lines.
field() { tr ' ' '\n' <<<"$1" | awk -v k="$2" 'prev == k { print; exit } { prev = $0 }'; }
dynalite_version=$(node -p 'require("./node_modules/dynalite/package.json").version')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
vs_floor=$(ratio "$export_wall" "$floor_write")
python_vs=$(ratio "$python_write" "$export_wall")
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "<=") ? v <= t : (op == ">") ? v > t : v >= t; print ok ? "met" : "NOT met" }'; }

report=$(cat <<MD
## Exports and imports

\`make bench\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //' || echo unknown CPU)),
$ROWS activities, release build. The export and the floor ran $RUNS times each,
taking turns; the table gives the median time and the highest peak RSS.
Python ran once. The machine may be shared, so read the ratios rather than
the seconds.

| what | time (median) | each run | peak RSS |
|---|---|---|---|
| \`bufdir-exports export --format excel\`, end to end (read SQLite, count per profile, all sheets) | ${export_wall} s | ${export_walls[*]} | ${export_rss} MB |
| the floor: bare rust_xlsxwriter, Aktiviteter cells, each row made as it is written | ${floor_write} s | ${floor_walls[*]} | ${floor_rss} MB |
| Python XlsxWriter 3.3.1 constant_memory, same cells from memory (write only) | ${python_write} s | ${python_write} | ${python_rss} MB (rows held in memory) |

| target | value | |
|---|---|---|
| export within 1.10x of the floor (ratio of the medians) | ${vs_floor}x | $(verdict "$vs_floor" "<=" 1.10) |
| the same, run by run (export / the floor run after it) | ${pair_ratios[*]} | |
| at least 5x faster than Python XlsxWriter | ${python_vs}x | $(verdict "$python_vs" ">=" 5) |
| export peak RSS under 64 MB | ${export_rss} MB | $(verdict "$export_rss" "<=" 64) |

Importing the same $ROWS activities into an empty data directory with
\`bufdir-exports activities import\` (the import an upload runs: every row
checked and, while all were good, written in the same pass into one
transaction that commits only if every row passed), once each:

| file | size | time | rows per second | peak RSS |
|---|---|---|---|---|
| JSON Lines | ${import_jsonl_size} MB | ${import_jsonl_wall} s | ${jsonl_rate} | ${import_jsonl_rss} MB |
| workbook in the template's columns (.xlsx) | ${import_xlsx_size} MB | ${import_xlsx_wall} s | ${xlsx_rate} | ${import_xlsx_rss} MB |
| the same workbook's cells read by calamine alone, nothing else (the floor under a workbook import) | ${import_xlsx_size} MB | ${xlsx_read_floor} s | ${xlsx_floor_rate} | |
| SQLite alone inserting as many rows, made and sorted beforehand, into the same tables, one transaction (the floor under any import) | | ${sqlite_floor} s | ${sqlite_floor_rate} | |
| the same without the counting index \`activities_by_date\` | | ${sqlite_floor_lean} s | ${sqlite_floor_lean_rate} | |

| target | value | |
|---|---|---|
| JSON Lines import at least 100 000 rows/s | ${jsonl_rate} | $(verdict "$jsonl_rate" ">=" 100000) |
| SQLite alone at least 100 000 rows/s (can any import here reach the aim?) | ${sqlite_floor_rate} | $(verdict "$sqlite_floor_rate" ">=" 100000) |
| JSON Lines import against SQLite alone | $(ratio "$import_jsonl_wall" "$sqlite_floor")x | |
| workbook import at least 30 000 rows/s | ${xlsx_rate} | $(verdict "$xlsx_rate" ">=" 30000) |
| import peak RSS under 128 MB | ${import_jsonl_rss} / ${import_xlsx_rss} MB | $(verdict "$(( import_jsonl_rss > import_xlsx_rss ? import_jsonl_rss : import_xlsx_rss ))" "<=" 128) |

Reading $(field "$on_moto" rows) activities of one organisation's year from DynamoDB
(\`shared/examples/dynamo_reads.rs\`), an export's way (a month per query, up
to $(field "$on_moto" most_in_flight) months at once) and as one sequential Query stream, 3 runs
each, taking turns, medians; on moto and on dynalite $dynalite_version (in memory):

| emulator | read | time | queries | items read |
|---|---|---|---|---|
| moto | a month per query | $(field "$on_moto" months_s) s | $(field "$on_moto" months_queries) | $(field "$on_moto" months_items) |
| moto | one stream | $(field "$on_moto" single_s) s | $(field "$on_moto" single_queries) | $(field "$on_moto" single_items) |
| dynalite | a month per query | $(field "$on_dynalite" months_s) s | $(field "$on_dynalite" months_queries) | $(field "$on_dynalite" months_items) |
| dynalite | one stream | $(field "$on_dynalite" single_s) s | $(field "$on_dynalite" single_queries) | $(field "$on_dynalite" single_items) |

| target | value | |
|---|---|---|
| items read per export = items in the period | $(field "$on_moto" months_items) and $(field "$on_dynalite" months_items) of $(field "$on_moto" rows) | $( [ "$(field "$on_moto" months_items)" = "$(field "$on_moto" rows)" ] && [ "$(field "$on_dynalite" months_items)" = "$(field "$on_moto" rows)" ] && echo met || echo "NOT met") |
| a month at a time faster than one stream (single / months), dynalite | $(field "$on_dynalite" speedup)x | $(verdict "$(field "$on_dynalite" speedup)" ">" 1.0) |
| the same on moto (see "Why the month-at-a-time read is slower on moto") | $(field "$on_moto" speedup)x | $(verdict "$(field "$on_moto" speedup)" ">" 1.0) |
MD
)
echo "$report"
echo "$report" | python3 scripts/put_section.py bench BENCHMARKS.md
echo "bench: written to BENCHMARKS.md"
