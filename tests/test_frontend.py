"""What both front ends take from ``_frontend``: plain-text docs, slider tooltips, the about text."""

import html
import re

import pytest

import brainmass_widgets as bw
from brainmass_widgets._frontend import about_html, plain_text, shown_regions, slider_tooltip


def test_plain_text_drops_rst_markup_and_spells_tex():
    text = "Angular frequency :math:`\\omega` (see ``w``) [1]_."
    assert plain_text(text) == "Angular frequency \u03c9 (see w)."
    assert plain_text("amplitude\n   :math:`\\sqrt{a/\\beta}`") == "amplitude \u221a(a/\u03b2)"


@pytest.mark.parametrize("spec", bw.catalog(), ids=lambda s: s.name)
def test_about_text_of_every_model_reads_as_prose_and_lists_every_parameter(spec):
    about = about_html(spec)
    body = html.unescape(re.sub(r"<[^>]+>", " ", about))
    for marker in (":math:", "``", "]_", "$$", "\\begin", ".. "):
        assert marker not in body, (spec.name, marker)
    assert spec.summary in body
    assert " ".join(spec.notes.split()) in " ".join(body.split())
    assert about.count("<tr>") == len(spec.params) + 1
    first = body.split(".")[0]
    assert len(first.split()) >= 2, body[:200]


def test_slider_tooltip_names_doc_range_and_default():
    p = bw.model_spec("JansenRitStep").params["E_inp"]
    tip = slider_tooltip(p)
    assert tip.startswith(plain_text(p.doc)) and f"Range {p.low:g} to {p.high:g} Hz" in tip
    assert f"default {p.default:g};" in tip


def test_regions_shown_never_exceed_the_regions_simulated():
    assert shown_regions({"regions": 4, "in_size": 1}) == 1
    assert shown_regions({"regions": 4, "in_size": (2, 3)}) == 4
    assert shown_regions({"regions": 2, "in_size": 10}) == 2
