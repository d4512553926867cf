#!/usr/bin/env python3
"""The body of scripts/bench-convert: writes a mixed document set, converts each file with
`parley convert --repeat N` and with MarkItDown (N times in this process), checks that key
phrases survive in both outputs, and prints a Markdown table of median seconds per document."""
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import time

from docx import Document
from markitdown import MarkItDown
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table

BIN, OUT, REPEAT = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(7)
WORDS = ("kettle water boil temperature filter descale warranty base cord lid switch light green tea "
         "coffee litre minute second customer support order delivery refund invoice price stock").split()


def sentence(n=12):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def build():
    files = {}  # name -> key phrases that must survive
    # PDF: 10 pages of headings, paragraphs and a table per page.
    styles = getSampleStyleSheet()
    story = []
    for page in range(10):
        story.append(Paragraph(f"Chapter {page + 1} overview", styles["Heading1"]))
        for _ in range(6):
            story.append(Paragraph(" ".join(sentence() for _ in range(4)), styles["BodyText"]))
        story.append(Table([["Model", "Capacity", "Price"]] + [[f"KT-{page}{r}", f"{1 + r / 10:.1f} l", f"{50 + r} EUR"] for r in range(8)]))
        story.append(PageBreak())
    SimpleDocTemplate(os.path.join(OUT, "manual.pdf"), pagesize=A4, invariant=1).build(story)
    files["manual.pdf"] = ["Chapter 7 overview", "KT-95", "57 EUR"]
    # DOCX: 300 paragraphs, headings, lists and a 40-row table.
    d = Document()
    for i in range(30):
        d.add_heading(f"Section {i + 1}", 1)
        for _ in range(8):
            d.add_paragraph(" ".join(sentence() for _ in range(3)))
        d.add_paragraph(f"Bullet item {i}", style="List Bullet")
    t = d.add_table(rows=40, cols=4)
    for r in range(40):
        for c in range(4):
            t.cell(r, c).text = f"cell {r}-{c}"
    d.save(os.path.join(OUT, "guide.docx"))
    files["guide.docx"] = ["Section 17", "Bullet item 29", "cell 39-3"]
    # XLSX: 3 sheets, 3,000 rows in all.
    wb = Workbook()
    for s in range(3):
        ws = wb.active if s == 0 else wb.create_sheet()
        ws.title = f"Region {s + 1}"
        ws.append(["Order", "Customer", "Amount", "Status"])
        for r in range(1000):
            ws.append([f"ORD-{s}{r:04d}", rng.choice(WORDS).title(), round(rng.random() * 500, 2), rng.choice(["open", "paid", "refunded"])])
    wb.save(os.path.join(OUT, "orders.xlsx"))
    files["orders.xlsx"] = ["Region 3", "ORD-20999", "ORD-00000"]
    # PPTX: 30 slides with bullets and a table every 5th.
    prs = Presentation()
    for i in range(30):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = f"Slide topic {i + 1}"
        body = slide.placeholders[1].text_frame
        body.text = sentence(8)
        for _ in range(4):
            body.add_paragraph().text = sentence(8)
        if i % 5 == 0:
            tbl = slide.shapes.add_table(4, 3, Inches(1), Inches(4), Inches(6), Inches(1.5)).table
            for r in range(4):
                for c in range(3):
                    tbl.cell(r, c).text = f"t{i}-{r}{c}"
    prs.save(os.path.join(OUT, "deck.pptx"))
    files["deck.pptx"] = ["Slide topic 30", "t25-32"]
    # HTML: a long help page.
    parts = ["<html><head><title>Help centre</title><style>p{}</style></head><body>"]
    for i in range(200):
        parts.append(f"<h2>Question {i}</h2><p>{sentence(20)} <a href='/q/{i}'>more</a> <b>{sentence(3)}</b></p>"
                     f"<ul><li>{sentence(5)}</li><li>{sentence(5)}</li></ul>")
    parts.append("<table><tr><th>Plan</th><th>Price</th></tr>" + "".join(f"<tr><td>Plan {i}</td><td>{i * 3} EUR</td></tr>" for i in range(100)) + "</table>")
    parts.append("</body></html>")
    with open(os.path.join(OUT, "help.html"), "w") as f:
        f.write("".join(parts))
    files["help.html"] = ["Question 199", "Plan 99", "297 EUR"]
    # CSV: 5,000 rows with quoted fields.
    with open(os.path.join(OUT, "stock.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "description", "qty"])
        for r in range(5000):
            w.writerow([f"SKU-{r:05d}", f"{sentence(4)}, boxed", r % 97])
    files["stock.csv"] = ["SKU-04999", "boxed"]
    # JSON: records and nested settings.
    data = {"catalog": [{"sku": f"KT-{i}", "name": sentence(3), "price": i * 1.5} for i in range(1000)],
            "settings": {"region": "EU", "currency": "EUR", "limits": {"max_order": 20}}}
    with open(os.path.join(OUT, "catalog.json"), "w") as f:
        json.dump(data, f)
    files["catalog.json"] = ["KT-999", "max_order"]
    return files


def main():
    files = build()
    md = MarkItDown()
    rows = []
    for name, phrases in files.items():
        path = os.path.join(OUT, name)
        proc = subprocess.run([BIN, "convert", "--repeat", str(REPEAT), path], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"parley convert {name} failed: {proc.stderr}")
        parley_s = float(proc.stderr.strip().rsplit(" ", 1)[-1])
        parley_out = proc.stdout
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            theirs = md.convert(path).text_content
            times.append(time.perf_counter() - start)
        markitdown_s = statistics.median(times)
        kept = all(p in parley_out for p in phrases)
        kept_theirs = all(p in theirs for p in phrases)
        rows.append((name, os.path.getsize(path), parley_s, markitdown_s, kept, kept_theirs))
    print("| document | bytes | parley s | MarkItDown s | ratio | phrases kept (parley / MarkItDown) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, size, p, m, kp, km in rows:
        print(f"| {name} | {size} | {p:.4f} | {m:.4f} | {m / p:.1f}x | {'yes' if kp else 'NO'} / {'yes' if km else 'NO'} |")
    total_p = sum(r[2] for r in rows)
    total_m = sum(r[3] for r in rows)
    print(f"| **all ({len(rows)} documents)** | | {total_p / len(rows):.4f} | {total_m / len(rows):.4f} | {total_m / total_p:.1f}x | |")
    if not all(r[4] for r in rows):
        sys.exit("parley lost text in at least one document")


if __name__ == "__main__":
    main()
