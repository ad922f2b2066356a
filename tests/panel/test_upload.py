"""Uploads a served page refuses before sending: the limit follows the server's message limit, each
explorer's file input sits in a box that checks it, and a refusal shows as the explorer's notice."""

import json

import panel as pn
import pytest

from brainmass_widgets.panel import SweepExplorer
from brainmass_widgets.panel._fit import FitExplorer
from brainmass_widgets.panel._network import NetworkExplorer
from brainmass_widgets.panel._upload import UploadBox, set_message_limit, upload_limit


@pytest.fixture
def served_limit():
    set_message_limit(64)
    yield
    set_message_limit(None)


def test_the_largest_upload_is_what_fits_a_message_in_base64():
    set_message_limit(None)
    assert upload_limit() is None
    set_message_limit(64)
    try:
        # 64 MiB, less 64 KiB for the file's name and the message around it, x 3/4 (base64)
        assert upload_limit() == (64 * 2**20 - 2**16) * 3 // 4 == 50_282_496
        assert 4 * -(-upload_limit() // 3) + 2**16 <= 64 * 2**20 < 4 * -(-50 * 2**20 // 3)
    finally:
        set_message_limit(None)
    with pytest.raises(ValueError, match="at least 1"):
        set_message_limit(0)


def test_a_refusal_from_the_page_shows_as_a_notice_naming_the_size_and_the_limit(served_limit):
    shown = []
    box = UploadBox(pn.widgets.FileInput(), shown.append)
    assert box.limit == 50_282_496
    box.refused = json.dumps({"name": "huge.npz", "size": 50 * 2**20, "at": 1})
    assert shown == ["huge.npz is 50.0 MiB; this server takes files of at most 47.9 MiB "
                     "(--max-message-mb 64): it was not sent"]
    # what a page sends is data: anything else is dropped without a notice
    for bad in ("not json", "[1, 2]", json.dumps({"name": "a", "size": "big"}), json.dumps({"size": -1}),
                json.dumps({"name": "a", "size": True})):
        box.refused = bad
    assert len(shown) == 1
    box.refused = json.dumps({"name": "<b>" + "x" * 500, "size": 2**30, "at": 2})
    assert len(shown) == 2 and len(shown[1]) < 400 and shown[1].startswith("<b>xxx")


def test_every_explorers_file_input_is_checked_in_the_page_and_shows_its_text(served_limit):
    explorers = [(SweepExplorer("HopfStep"), "_open"),
                 (NetworkExplorer("HopfStep", autorun=False), "_file"),
                 (FitExplorer("HopfStep"), "_file")]
    for explorer, name in explorers:
        widget = getattr(explorer, name)
        boxes = [box for box in explorer.__panel__().select(UploadBox) if box.upload is widget]
        assert len(boxes) == 1 and boxes[0].limit == upload_limit(), type(explorer).__name__
        assert widget.width is None and widget.sizing_mode == "stretch_width"  # never "No fil…osen"
        boxes[0].refused = json.dumps({"name": "big.csv", "size": 60 * 2**20, "at": 1})
        assert explorer.notice.startswith("big.csv is 60.0 MiB; this server takes files of at most 47.9 MiB")
        explorer.controller.close()
