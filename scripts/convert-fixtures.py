#!/usr/bin/env python3
"""Small real documents for Tests/ParleyTests/Convert*.swift (run by scripts/make-convert-fixtures).
Each holds known text, headings, lists, links and tables the tests look for."""
import os
import sys

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from openpyxl import Workbook
from openpyxl.styles import numbers
from pptx import Presentation
from pptx.util import Inches
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import ListFlowable, ListItem, PageBreak, Paragraph, SimpleDocTemplate, Table
import datetime

OUT = sys.argv[1]


def add_hyperlink(paragraph, url, text):
    r_id = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), r_id)
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = text
    run.append(t)
    link.append(run)
    paragraph._p.append(link)


def docx():
    d = Document()
    d.core_properties.title = "Fixture Handbook"
    d.add_heading("Fixture Handbook", 0)
    d.add_heading("Getting started", 1)
    p = d.add_paragraph("Plain text with ")
    p.add_run("bold words").bold = True
    p.add_run(" and ")
    p.add_run("italic words").italic = True
    p.add_run(". See ")
    add_hyperlink(p, "https://example.com/docs", "the documentation")
    p.add_run(" for more.")
    d.add_heading("Second level", 2)
    for item in ["First bullet", "Second bullet"]:
        d.add_paragraph(item, style="List Bullet")
    for item in ["Step one", "Step two"]:
        d.add_paragraph(item, style="List Number")
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("Plan", "Seats", "Price"), ("Basic", "5", "10 EUR"), ("Pro | Plus", "50", "90 EUR")]):
        for c, v in enumerate(row):
            t.cell(r, c).text = v
    d.add_paragraph("Closing paragraph after the table.")
    d.save(os.path.join(OUT, "sample.docx"))


def xlsx():
    wb = Workbook()
    ws = wb.active
    ws.title = "Prices"
    ws.append(["Item", "Price", "Since"])
    ws.append(["Widget", 9.5, datetime.date(2024, 3, 15)])
    ws.append(["Gadget | Pro", 120, datetime.date(2025, 1, 2)])
    ws["C2"].number_format = numbers.FORMAT_DATE_YYYYMMDD2
    ws["C3"].number_format = numbers.FORMAT_DATE_YYYYMMDD2
    sparse = wb.create_sheet("Sparse")
    sparse["B2"] = "Header"
    sparse["D2"] = "Other"
    sparse["B5000"] = "Far below"
    wb.properties.title = "Fixture Workbook"
    wb.save(os.path.join(OUT, "sample.xlsx"))


def pptx():
    prs = Presentation()
    s1 = prs.slides.add_slide(prs.slide_layouts[0])
    s1.shapes.title.text = "Fixture Deck"
    s1.placeholders[1].text = "A subtitle line"
    s2 = prs.slides.add_slide(prs.slide_layouts[1])
    s2.shapes.title.text = "Agenda"
    body = s2.placeholders[1].text_frame
    body.text = "Top point"
    sub = body.add_paragraph()
    sub.text = "Nested point"
    sub.level = 1
    para = body.add_paragraph()
    run = para.add_run()
    run.text = "Linked point"
    run.hyperlink.address = "https://example.com/deck"
    s2.notes_slide.notes_text_frame.text = "Speaker notes here"
    s3 = prs.slides.add_slide(prs.slide_layouts[5])
    s3.shapes.title.text = "Numbers"
    table = s3.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Quarter", "Revenue"), ("Q1", "100"), ("Q2", "140")]):
        for c, v in enumerate(row):
            table.cell(r, c).text = v
    prs.save(os.path.join(OUT, "sample.pptx"))


def pdf():
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(os.path.join(OUT, "sample.pdf"), pagesize=A4, title="Fixture Report", invariant=1)
    story = [
        Paragraph("Fixture Report", styles["Title"]),
        Paragraph("The first paragraph explains the report. It is long enough to wrap onto a second line of the page "
                  "so that lines are joined into one paragraph.", styles["BodyText"]),
        Paragraph("Findings", styles["Heading2"]),
        ListFlowable([ListItem(Paragraph("Alpha finding", styles["BodyText"])),
                      ListItem(Paragraph("Beta finding", styles["BodyText"]))], bulletType="bullet"),
        Paragraph("Results table", styles["Heading2"]),
        Table([["Name", "Score", "Grade"], ["Alice", "91", "A"], ["Bob", "78", "C"], ["Carol", "85", "B"]]),
        PageBreak(),
        Paragraph("Second page", styles["Heading2"]),
        Paragraph("Text on the second page.", styles["BodyText"]),
    ]
    doc.build(story)

    # A TrueType font embedded as a subset: text comes back through its ToUnicode map.
    pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    style = styles["BodyText"].clone("uni", fontName="DejaVu")
    doc = SimpleDocTemplate(os.path.join(OUT, "unicode.pdf"), pagesize=A4, invariant=1)
    doc.build([Paragraph("Größe – 25 € für Crème brûlée", style)])


if __name__ == "__main__":
    docx(); xlsx(); pptx(); pdf()
