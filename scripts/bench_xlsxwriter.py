"""The Python comparison for `make bench`: XlsxWriter in constant_memory
mode writing the same Aktiviteter cells as shared/examples/xlsx_floor.rs,
from rows already in memory (read from the floor's --dump file first,
untimed). Prints the write time in seconds.

Usage: bench_xlsxwriter.py ROWS.tsv OUT.xlsx
"""
import datetime
import sys
import time

import xlsxwriter

HEADERS = ["ID", "Dato", "Aktivitetstype", "Tittel", "Form", "Minutter", "Kommune", "Fylke", "Deltakere",
           "Nye deltakere", "Frivillige", "Frivilligtimer", "Ledet av likeperson", "I Norge", "Tellende", "Årsak"]


def main(tsv, out):
    rows = []
    with open(tsv, encoding="utf-8") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            rows.append((c[0], datetime.date.fromisoformat(c[1]), c[2], c[3], c[4], int(c[5]), c[6], c[7],
                         int(c[8]), int(c[9]), int(c[10]), float(c[11]), c[12], c[13]))
    started = time.perf_counter()
    wb = xlsxwriter.Workbook(out, {"constant_memory": True})
    date = wb.add_format({"num_format": "dd.mm.yyyy"})
    ws = wb.add_worksheet("Aktiviteter")
    ws.write_row(0, 0, HEADERS)
    for i, r in enumerate(rows, start=1):
        ws.write_string(i, 0, r[0])
        ws.write_datetime(i, 1, r[1], date)
        ws.write_string(i, 2, r[2])
        ws.write_string(i, 3, r[3])
        ws.write_string(i, 4, r[4])
        ws.write_number(i, 5, r[5])
        ws.write_string(i, 6, r[6])
        ws.write_string(i, 7, r[7])
        ws.write_number(i, 8, r[8])
        ws.write_number(i, 9, r[9])
        ws.write_number(i, 10, r[10])
        ws.write_number(i, 11, r[11])
        ws.write_string(i, 12, r[12])
        ws.write_string(i, 13, r[13])
        ws.write_string(i, 14, "ja")
    wb.close()
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
