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

## Keeping water warm

Hold the **Temp** button for two seconds after the kettle boils to keep the water at the chosen temperature. The ring light glows amber while it keeps warm, and the kettle switches itself off after 60 minutes.

## Locking the buttons

Press **Temp** and **Start** together for three seconds to lock the buttons, so that small children cannot start the kettle. A padlock symbol lights up on the handle. Do the same again to unlock.

## Turning the beep off

The kettle beeps three times when the water reaches the chosen temperature. To silence it, hold **Start** while you plug the base into the socket; hold it again the same way to bring the sound back.

## Cleaning the outside

Wipe the outside with a damp cloth and a little washing-up liquid. Never put the kettle or its base in the dishwasher or under a running tap: the electronics in the base are not waterproof.

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
<h2>The water tastes of plastic</h2>
<p>A new kettle can leave a taste during its first few boils. Boil a full kettle three times and pour the water away each time. If the taste stays, rinse the limescale filter and leave the lid open to air overnight.</p>
<h2>The kettle switches off before the water boils</h2>
<p>In the mountains water boils below 100 °C, so the kettle may stop a little early: above 1,500 metres choose the 90 °C setting. At sea level an early stop usually means scale on the heating plate: descale the kettle.</p>
<h2>The kettle is noisy</h2>
<p>A rumbling sound while the water heats is normal and stops shortly before the boil. Loud crackling or popping is a sign of limescale on the heating plate.</p>
<h2>Water leaks from the bottom</h2>
<p>Unplug the base at once and stop using the kettle. A leak usually comes from a cracked water window or a worn lid seal. Do not repair it yourself: contact support for a repair under the warranty.</p>
<h2>Restoring the factory settings</h2>
<p>Hold <strong>Temp</strong> for ten seconds until all the lights flash twice. The kettle forgets its Wi-Fi network, its favourite temperature and the child lock.</p>
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
    story += [
        Paragraph("How to make a claim", styles["Heading2"]),
        Paragraph("Email warranty@example.com with your order number, a photo of the rating label under the base and a "
                  "short description of the fault. We answer within two working days and send a prepaid return label.",
                  styles["BodyText"]),
        Paragraph("Repair or replacement", styles["Heading2"]),
        Paragraph("We repair the kettle within ten working days of receiving it. If a repair is not possible we send a new "
                  "kettle of the same model; it keeps the rest of the original warranty, and never less than six months.",
                  styles["BodyText"]),
        Paragraph("Returns within 30 days", styles["Heading2"]),
        Paragraph("Changed your mind? Send the kettle back unused in its original box within 30 days of delivery for a full "
                  "refund. Return postage is free in the European Union and the United Kingdom.", styles["BodyText"]),
        Paragraph("Registering for an extra year", styles["Heading2"]),
        Paragraph("Register your kettle at example.com/kettle/register within 90 days of purchase and the warranty is extended "
                  "by one year at no cost.", styles["BodyText"]),
    ]
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
    d.add_heading("Fitting the limescale filter", 1)
    d.add_paragraph("Open the lid and slide the filter into the grooves behind the spout until it clicks. Rinse the filter "
                    "under the tap once a week and replace it every three months.")
    d.add_heading("Connecting to the Parley Home app", 1)
    d.add_paragraph("Install the Parley Home app on your phone. Hold Start for five seconds until the light flashes blue, then "
                    "choose the kettle in the app. The kettle joins 2.4 GHz Wi-Fi networks only; a 5 GHz network will not "
                    "work. From the app you can boil the water remotely and set a wake-up time.")
    d.add_heading("Safety", 1)
    for rule in ["Never fill above the MAX line: boiling water can spill from the spout.",
                 "Keep the cord away from the edge of the worktop and from hot surfaces.",
                 "Children under 8 years must not use the kettle or clean it."]:
        d.add_paragraph(rule, style="List Bullet")
    d.add_heading("Recycling the kettle", 1)
    d.add_paragraph("At the end of its life take the kettle to a collection point for electrical appliances; do not put it in "
                    "household waste. The used filter can go in general waste.")
    d.save(os.path.join(OUT, "setup-guide.docx"))


def xlsx():
    wb = Workbook()
    ws = wb.active
    ws.title = "Prices"
    ws.append(["Product", "SKU", "Price (EUR)", "In stock"])
    for row in [["Parley Kettle KT-200", "KT-200", 79.0, True], ["Parley Kettle KT-200 Glass", "KT-200G", 99.5, True],
                ["Limescale filter (3 pack)", "FLT-3", 12.99, True], ["Power base (spare)", "BASE-1", 24.0, False],
                ["Descaling tablets (10 pack)", "DSC-10", 8.5, True], ["Travel pouch", "POUCH-1", 14.0, True],
                ["Accidental damage cover (2 years)", "ADC-2", 19.0, True]]:
        ws.append(row)
    parts = wb.create_sheet("Spare parts")
    parts.append(["Part", "Fits", "Price (EUR)"])
    parts.append(["Lid hinge", "KT-200, KT-200G", 6.5])
    parts.append(["Filter", "All models", 4.99])
    parts.append(["Lid seal", "KT-200, KT-200G", 3.2])
    parts.append(["Water window", "KT-200", 9.9])
    parts.append(["Glass jug", "KT-200G", 29.0])
    delivery = wb.create_sheet("Delivery")
    delivery.append(["Destination", "Delivery time", "Shipping (EUR)"])
    delivery.append(["Germany", "1 to 2 working days", "Free"])
    delivery.append(["Rest of the European Union", "2 to 4 working days", 4.9])
    delivery.append(["United Kingdom", "3 to 5 working days", 7.5])
    delivery.append(["Switzerland and Norway", "4 to 6 working days", 12.0])
    wb.properties.title = "Parley Kettle Price List"
    wb.save(os.path.join(OUT, "price-list.xlsx"))


if __name__ == "__main__":
    markdown(); html(); pdf(); docx(); xlsx()
