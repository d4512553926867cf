#!/usr/bin/env python3
"""Writes the Parley Kettle product-help set (a fictional product, written for this project) in
several formats: Markdown, HTML, PDF, DOCX and XLSX (with a price table). `parley seed support`
and the conversion tests use these files. Run through scripts/make-convert-fixtures, which
installs the Python packages it needs (python-docx, openpyxl, reportlab)."""
import os
import sys

from docx import Document
from openpyxl import Workbook
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def markdown():
    text = """# Parley Kettle: Quick Start

The Parley Kettle KT-200 boils 1.7 litres of water in under four minutes and keeps it warm for up to 60 minutes.

## Before first use

1. Fill the kettle to the MAX line and boil the water.
2. Pour the water away and repeat once.
3. Wipe the base with a dry cloth.

## Choosing a temperature

Press the **Temp** button to step through 70 °C, 80 °C, 90 °C and 100 °C. Green tea tastes best at 80 °C.

## Getting help

Visit the support page at https://example.com/kettle/help or write to support@example.com.
"""
    with open(os.path.join(OUT, "quick-start.md"), "w") as f:
        f.write(text)


def html():
    text = """<!DOCTYPE html>
<html><head><title>Parley Kettle: Troubleshooting</title><style>body { font-family: sans-serif }</style>
<script>console.log("not content")</script></head>
<body>
<h1>Troubleshooting the Parley Kettle</h1>
<p>Most problems have a simple cause. Check the list below before you contact <a href="mailto:support@example.com">support</a>.</p>
<h2>The kettle does not switch on</h2>
<ul>
  <li>Make sure the kettle sits <strong>flat</strong> on its base.</li>
  <li>Check that the socket works with another appliance.</li>
  <li>The dry-boil protection may have tripped: let the kettle cool for <em>ten minutes</em>.</li>
</ul>
<h2>Error codes</h2>
<table>
  <tr><th>Code</th><th>Meaning</th><th>What to do</th></tr>
  <tr><td>E1</td><td>Empty kettle</td><td>Fill above the MIN line</td></tr>
  <tr><td>E2</td><td>Temperature sensor fault</td><td>Unplug for 30 seconds, then retry</td></tr>
  <tr><td>E3</td><td>Scale build-up</td><td>Descale with citric acid</td></tr>
</table>
<h2>Descaling</h2>
<ol>
  <li>Mix 25 g of citric acid with 1 litre of water.</li>
  <li>Boil, then leave for 20 minutes.</li>
  <li>Rinse twice with clean water.</li>
</ol>
<pre><code>Descale every 4 weeks in hard-water areas.</code></pre>
</body></html>
"""
    with open(os.path.join(OUT, "troubleshooting.html"), "w") as f:
        f.write(text)


def pdf():
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(os.path.join(OUT, "warranty.pdf"), pagesize=A4, title="Parley Kettle Warranty",
                            invariant=1)
    story = [
        Paragraph("Parley Kettle Warranty", styles["Title"]),
        Paragraph("Your Parley Kettle is covered for two years from the date of purchase. Keep your receipt: "
                  "we need it to confirm the purchase date.", styles["BodyText"]),
        Spacer(1, 12),
        Paragraph("What is covered", styles["Heading2"]),
        ListFlowable([
            ListItem(Paragraph("Faults in materials and workmanship.", styles["BodyText"])),
            ListItem(Paragraph("The heating element and the thermostat.", styles["BodyText"])),
            ListItem(Paragraph("The base and its power cord.", styles["BodyText"])),
        ], bulletType="bullet"),
        Paragraph("What is not covered", styles["Heading2"]),
        Paragraph("Damage from dropping the kettle, scale build-up, and commercial use are not covered.",
                  styles["BodyText"]),
        Paragraph("Warranty periods", styles["Heading2"]),
    ]
    table = Table([["Region", "Period", "Claim by"],
                   ["European Union", "2 years", "Email or post"],
                   ["United Kingdom", "2 years", "Email"],
                   ["United States", "1 year", "Phone"]])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey)]))
    story.append(table)
    doc.build(story)


def docx():
    d = Document()
    d.core_properties.title = "Parley Kettle Setup Guide"
    d.add_heading("Parley Kettle Setup Guide", 0)
    d.add_paragraph("This guide takes you from the box to your first cup of tea.")
    d.add_heading("In the box", 1)
    for item in ["The kettle (model KT-200)", "The power base", "A limescale filter"]:
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("Setting up", 1)
    p = d.add_paragraph("Place the base on a ")
    p.add_run("dry, level surface").bold = True
    p.add_run(" at least 10 cm from the wall.")
    for step in ["Plug the base in.", "Fill the kettle.", "Press the switch."]:
        d.add_paragraph(step, style="List Number")
    d.add_heading("Specifications", 1)
    t = d.add_table(rows=4, cols=2)
    for r, (k, v) in enumerate([("Capacity", "1.7 l"), ("Power", "2200 W"), ("Cord length", "75 cm"), ("Weight", "1.1 kg")]):
        t.cell(r, 0).text = k
        t.cell(r, 1).text = v
    d.save(os.path.join(OUT, "setup-guide.docx"))


def xlsx():
    wb = Workbook()
    ws = wb.active
    ws.title = "Prices"
    ws.append(["Product", "SKU", "Price (EUR)", "In stock"])
    for row in [["Parley Kettle KT-200", "KT-200", 79.0, True], ["Parley Kettle KT-200 Glass", "KT-200G", 99.5, True],
                ["Limescale filter (3 pack)", "FLT-3", 12.99, True], ["Power base (spare)", "BASE-1", 24.0, False]]:
        ws.append(row)
    parts = wb.create_sheet("Spare parts")
    parts.append(["Part", "Fits", "Price (EUR)"])
    parts.append(["Lid hinge", "KT-200, KT-200G", 6.5])
    parts.append(["Filter", "All models", 4.99])
    wb.properties.title = "Parley Kettle Price List"
    wb.save(os.path.join(OUT, "price-list.xlsx"))


if __name__ == "__main__":
    markdown(); html(); pdf(); docx(); xlsx()
