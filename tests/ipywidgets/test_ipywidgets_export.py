"""The ipywidgets explorer saves itself as a page that works without a kernel."""

import brainunit as u
import numpy as np
import pytest
from export_data import named, source

import brainmass_widgets as bw
from brainmass_widgets.ipywidgets import ModelExplorer


def mag(x):
    return np.asarray(u.get_magnitude(x))


@pytest.fixture
def explorer():
    e = ModelExplorer("HopfStep", autorun=False, duration=40.0)
    yield e
    e.close()


def test_export_html_delegates_with_the_explorers_values(explorer, tmp_path):
    explorer.set(w=0.3)
    path = explorer.export_html(tmp_path / "ipy.html", grid={"a": [0.4, -0.2], "beta": [1.0, 2.0]})
    assert path == tmp_path / "ipy.html"
    runs = source(path, "export_runs")
    sim = bw.CachedSimulator("HopfStep")
    for i, (a, beta) in enumerate([(-0.2, 1.0), (-0.2, 2.0), (0.4, 1.0), (0.4, 2.0)]):
        ref = sim.run(40 * u.ms, params={"a": a, "beta": beta, "w": 0.3})
        np.testing.assert_allclose(runs[f"{i}|x[0]"], mag(ref["x"])[:, 0], rtol=1e-6, atol=1e-6)


def test_save_as_page_button_writes_beside_the_notebook_and_names_the_file(explorer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    explorer.set(a=0.5)
    assert explorer._page_saved.value == ""
    explorer._page_button.click()
    path = tmp_path / "HopfStep-explorer.html"
    assert path.exists()
    link = '<a href="HopfStep-explorer.html" target="_blank">HopfStep-explorer.html</a>'
    assert explorer._page_saved.value == f"saved {link}"
    # a was moved: the page varies a alone, around 0.5, in steps of an eighth of its slider range
    values = named(path, "slider:a")["format"]["attributes"]["args"]["entries"][0][1]
    assert values == [-0.12, 0.19, 0.5, 0.81, 1.12]
    ref = bw.CachedSimulator("HopfStep").run(40 * u.ms, params={"a": 0.81})
    runs = source(path, "export_runs")
    np.testing.assert_allclose(runs["3|x[0]"], mag(ref["x"])[:, 0], rtol=1e-6, atol=1e-6)
    explorer.configure(duration=200_000.0)
    explorer._page_button.click()
    assert "the page would hold" in explorer._page_saved.value
