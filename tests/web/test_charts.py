"""The figures page's charts: well-formed SVG images with a title and a description a screen reader reads, drawing
only what the report published (a "<5" as an outline, a suppressed count as a label, never a number it hid)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from api.web.charts import chart

SVG = "{http://www.w3.org/2000/svg}"


def figures(**values: object) -> dict[str, dict[str, object]]:
    return {name: {"label": f"Label <{name}>", "value": value, "share": None if isinstance(value, int) else value,
                   "by_month": [{"month": "2026-12", "value": value}, {"month": "2027-01", "value": 0}]}
            for name, value in values.items()}


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def test_bars_draw_published_counts_outline_small_ones_and_label_suppressed_ones() -> None:
    spec = {"id": "wait", "title": "Wait & see", "kind": "bars", "figures": ["a", "b", "c", "d"],
            "marks": [{"after": "b", "label": "72 hours"}]}
    svg = parse(chart(spec, figures(a=12, b="<5", c="suppressed", d=0), "s-wait"))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "chart-s-wait-title chart-s-wait-desc"
    assert svg.find(f"{SVG}title").text == "Wait & see"  # escaped in the markup, read back whole
    description = svg.find(f"{SVG}desc").text
    assert "Label <a>: 12" in description and "Label <b>: <5" in description and "suppressed" in description
    rects = svg.findall(f"{SVG}rect")
    assert [r.get("class") for r in rects] == [None, "small"]  # a bar for 12, an outline for <5, nothing else
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "12" in texts and "<5" in texts and "suppressed" in texts and "0" in texts and "72 hours" in texts


def test_months_draw_each_series_per_month_without_numbers_above_narrow_bars() -> None:
    spec = {"id": "m", "title": "By month", "kind": "months", "figures": ["a", "b"]}
    svg = parse(chart(spec, figures(a=9, b="<5"), "m"))
    assert len(svg.findall(f"{SVG}rect")) == 2  # December's two; January's zeros draw nothing
    assert "2026-12: Label <a> 9, Label <b> <5" in svg.find(f"{SVG}desc").text
    ticks = " ".join("".join(t.itertext()) for t in svg.iter(f"{SVG}text"))
    assert "Dec2026" in ticks.replace(" ", "") and "Jan2027" in ticks.replace(" ", "")


def test_a_curve_breaks_where_a_share_is_suppressed_or_not_known() -> None:
    spec = {"id": "r", "title": "Retention", "kind": "curve", "figures": ["retained_7", "retained_30", "retained_90"]}
    values = figures(retained_7=0.9, retained_30="suppressed", retained_90=None)
    svg = parse(chart(spec, values, "r"))
    assert svg.find(f"{SVG}desc").text == "day 0: 100%; day 7: 90%; day 30: suppressed; day 90: not known yet"
    assert len(svg.findall(f"{SVG}polyline")) == 1 and len(svg.findall(f"{SVG}circle")) == 1
