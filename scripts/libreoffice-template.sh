#!/usr/bin/env bash
# The served templates as a grant officer's spreadsheet program leaves
# them: LibreOffice opens the workbook template and saves it again as
# .xlsx, and as a ';'-separated CSV the way Norwegian Excel writes one;
# `bufdir-exports activities import` must take both without edits (the
# template's example row is one activity). Our own writer's workbook
# proves little: LibreOffice writes shared strings, date cells and its
# own styles where rust_xlsxwriter writes inline strings.
#
# Usage: scripts/libreoffice-template.sh [bufdir-exports binary]
#   (default: target/debug/bufdir-exports, which `make build-tests` made).
# Needs soffice (Debian: libreoffice-calc-nogui).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/bufdir-exports}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
[[ -x "$bin" ]] || { echo "libreoffice-template: no binary at $bin" >&2; exit 2; }
command -v soffice >/dev/null || { echo "libreoffice-template: soffice not found" >&2; exit 2; }

mkdir -p "$work/in"
cp "$root/shared/core/templates/activities.xlsx" "$work/in/template.xlsx"
lo() { timeout 180 soffice -env:UserInstallation="file://$work/lo-profile" --headless "$@" >>"$work/soffice.log" 2>&1 || true; }
# Saved as Excel 2007-365 by LibreOffice; and the first sheet (Aktiviteter)
# as CSV: ';' (59), '"' (34), UTF-8 (76), from line 1.
lo --convert-to 'xlsx:Calc MS Excel 2007 XML' --outdir "$work/xlsx" "$work/in/template.xlsx"
lo --convert-to 'csv:Text - txt - csv (StarCalc):59,34,76,1' --outdir "$work/csv" "$work/in/template.xlsx"

failed=0
for file in "$work/xlsx/template.xlsx" "$work/csv/template.csv"; do
    if [[ ! -s "$file" ]]; then
        echo "FAIL LibreOffice wrote no $(basename "$file")" >&2
        cat "$work/soffice.log" >&2
        failed=1
        continue
    fi
    name=$(basename "$file")
    out=$("$bin" activities import --org org-template --data-dir "$work/data-${name##*.}" "$file" 2>&1) || true
    if grep -q "^imported 1 activities for org-template" <<<"$out"; then
        echo "ok   $name as LibreOffice saved it: $out"
    else
        echo "FAIL $name as LibreOffice saved it did not import:" >&2
        echo "$out" >&2
        failed=1
    fi
done
exit "$failed"
