#!/usr/bin/env bash
# Opens the golden workbook with LibreOffice (headless) and checks that
# every sheet converts to CSV with the rows the report has, so a workbook
# that only our own reader (calamine) accepts cannot pass.
#
# Usage: scripts/libreoffice-readback.sh [workbook.xlsx]
#   Without an argument the golden workbook is generated first with
#   the golden report test (GOLDEN_OUT_DIR).
# Needs: soffice and pdftotext (Debian: apt-get install -y --no-install-recommends
# libreoffice-calc-nogui poppler-utils).
# LibreOffice exits 0 even on a file it cannot read, so only the files and
# their line counts are trusted.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! command -v soffice >/dev/null; then
    echo "libreoffice-readback: soffice not found (install libreoffice-calc-nogui)" >&2
    exit 2
fi

if [[ $# -ge 1 ]]; then
    xlsx="$1"
else
    # --workspace, as make test builds it, so nothing is compiled again.
    (cd "$root" && GOLDEN_OUT_DIR="$work/golden" cargo test -q --workspace --locked --test integration -- \
        golden_report::the_workbook_read_back_with_calamine_has_the_hand_counted_figures >/dev/null)
    xlsx="$(ls "$work"/golden/*.xlsx)"
fi
[[ -s "$xlsx" ]] || { echo "libreoffice-readback: no workbook at $xlsx" >&2; exit 1; }

# Field separator ',', quote '"', UTF-8, all sheets (-1): one CSV per sheet,
# named <workbook>-<sheet>.csv.
filter='csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1'
timeout 180 soffice -env:UserInstallation="file://$work/lo-profile" --headless \
    --convert-to "$filter" --outdir "$work/out" "$xlsx" >"$work/soffice.log" 2>&1 || true

base="$(basename "$xlsx" .xlsx)"
# Rows per sheet of the golden report (see shared/tests/integration/golden_report.rs):
# Aktiviteter 254 activities + header; Vedlegg 32 + header; Frivillige
# 5 types x 12 months + 10 + header + total; the rest is layout.
declare -A want=(
    [Forside]=17
    [Sammendrag]=23
    [Aktiviteter]=255
    [Deltakere]=21
    [Geografi]=16
    [Frivillige]=72
    [Vedlegg]=33
    [Kontroll]=30
)
failed=0
for sheet in Forside Sammendrag Aktiviteter Deltakere Geografi Frivillige Vedlegg Kontroll; do
    csv="$work/out/$base-$sheet.csv"
    if [[ ! -s "$csv" ]]; then
        echo "FAIL $sheet: LibreOffice wrote no CSV" >&2
        failed=1
        continue
    fi
    rows="$(wc -l <"$csv")"
    if [[ "$rows" -ne "${want[$sheet]}" ]]; then
        echo "FAIL $sheet: $rows rows, expected ${want[$sheet]}" >&2
        failed=1
    else
        echo "ok   $sheet: $rows rows"
    fi
done
# A figure and a hidden cell, as LibreOffice reads them.
grep -q '^Totalt,254,141,121,' "$work/out/$base-Sammendrag.csv" || { echo "FAIL Sammendrag: Totalt row" >&2; failed=1; }
grep -q '^Samtalegruppe,182,112,:,:,324,*$' "$work/out/$base-Deltakere.csv" || { echo "FAIL Deltakere: hidden cells" >&2; failed=1; }
# The month chart as LibreOffice draws it: printed to PDF, Sammendrag is
# page 2 (Forside fits one). Its category axis must name months like the
# table does ("jan. 2025"), not show the dates' serial numbers (45658).
timeout 180 soffice -env:UserInstallation="file://$work/lo-profile" --headless \
    --convert-to pdf --outdir "$work/pdf" "$xlsx" >>"$work/soffice.log" 2>&1 || true
if ! command -v pdftotext >/dev/null; then
    echo "FAIL chart: pdftotext not found (install poppler-utils)" >&2
    failed=1
elif [[ ! -s "$work/pdf/$base.pdf" ]]; then
    echo "FAIL chart: LibreOffice wrote no PDF" >&2
    failed=1
else
    page="$(pdftotext -f 2 -l 2 -layout "$work/pdf/$base.pdf" -)"
    months="$( (grep -oE '\b(jan|feb|mar|apr|mai|jun|jul|aug|sep|okt|nov|des)[a-z]*\.? 20[0-9]{2}\b' <<<"$page" || true) | wc -l)"
    serials="$( (grep -oE '\b4[4-9][0-9]{3}\b' <<<"$page" || true) | head -3 | tr '\n' ' ')"
    if ! grep -q 'Tellende aktiviteter per måned' <<<"$page"; then
        echo "FAIL chart: page 2 is not Sammendrag" >&2
        failed=1
    elif [[ -n "$serials" || "$months" -le 12 ]]; then
        echo "FAIL chart: axis shows date serials ($serials) or no months ($months month labels on the page)" >&2
        failed=1
    else
        echo "ok   chart: $months month labels (12 in the table), no date serials"
    fi
fi
if [[ $failed -ne 0 ]]; then
    cat "$work/soffice.log" >&2
    exit 1
fi
echo "libreoffice-readback: all sheets read back"
