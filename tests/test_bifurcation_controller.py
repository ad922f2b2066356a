"""The bifurcation controller: sources drawn from the diagram, live parameter changes without
recompiles, picking, curves in two parameters and the plain-brainmass script."""

import subprocess
import sys

import numpy as np
import pytest

from brainmass_widgets import BifurcationController
from brainmass_widgets._bifurcation import _PROGRAMS


@pytest.fixture(scope="module")
def fhn():
    c = BifurcationController("FitzHughNagumoStep", params={"beta": 10.0}, cycles=12)
    assert c.wait(300)
    assert c.status.kind == "done", c.status
    yield c
    c.close()


def _closed_form_fold(alpha=3.0, beta=10.0, gamma=-1.5, eps=0.5):
    """The in-range fold of FitzHugh-Nagumo from its nullclines: V_inp(V) = alpha V^3 - beta V^2
    - gamma V + V / eps turns where 3 alpha V^2 - 2 beta V - gamma + 1 / eps = 0."""
    roots = np.roots([3 * alpha, -2 * beta, -gamma + 1 / eps]).real
    drive = alpha * roots**3 - beta * roots**2 - gamma * roots + roots / eps
    return drive[(drive > -2) & (drive < 3)][0]


def test_sources_hold_branches_special_points_and_cycles(fhn):
    d = fhn.diagram
    stable, unstable = fhn.sources["stable"].data, fhn.sources["unstable"].data
    # every branch point appears in the stable or the unstable line (runs meet at one shared point)
    points = sum(len(b.param) for b in d.branches)
    drawn = (
        np.isfinite(np.asarray(stable["x"], float)).sum()
        + np.isfinite(np.asarray(unstable["x"], float)).sum()
    )
    assert points <= drawn <= points + 2 * len(d.branches) * 4
    special = fhn.sources["special"].data
    assert special["kind"] == ["Hopf", "fold"]
    assert special["x"][1] == pytest.approx(_closed_form_fold(), abs=1e-4)
    assert "fold" in fhn.status.message and "Hopf (sub)" in fhn.status.message
    # each special point says which parameter it lies at
    assert f"fold at {fhn.state.param} = {special['x'][1]:.3g}" in fhn.status.message
    cycles = fhn.sources["cycles"].data
    assert len(cycles["x"]) == 12 and set(cycles) == {"x", "up_min", "up_max", "down_min", "down_max"}
    assert fhn.figures["diagram"].xaxis.axis_label == "V_inp"


def test_a_slider_move_redraws_without_compiling(fhn):
    fhn.set(epsilon=0.45)
    assert fhn.wait(120)
    before = _PROGRAMS.info()["compiles"]
    fhn.set(epsilon=0.55)
    assert fhn.wait(120)
    assert _PROGRAMS.info()["compiles"] == before
    assert fhn.status.kind == "done"
    assert fhn.sources["special"].data["x"][-1] == pytest.approx(_closed_form_fold(eps=0.55), abs=1e-4)
    fhn.set(epsilon=0.5)
    assert fhn.wait(120)


def test_picking_sends_every_parameter_with_the_picked_value(fhn):
    got = []
    fhn.on_pick(got.append)
    upper = max(state["V"] for state, _ in fhn.diagram.equilibria_at(0.5))
    fhn.sources["pick"].data = {"x": [0.5], "y": [upper], "at": [1.0]}
    assert got and got[-1]["beta"] == 10.0
    branch_values = np.concatenate([b.param for b in fhn.diagram.branches])
    assert got[-1]["V_inp"] in branch_values
    assert abs(got[-1]["V_inp"] - 0.5) < 0.05
    assert fhn.picked == got[-1]
    # a tap beside the branches picks the nearest point, not the tapped parameter value
    assert fhn.pick(0.5, -0.3)["V_inp"] < 0.35


def test_bad_options_are_refused_and_nothing_changes(fhn):
    before = fhn.options
    for bad, words in (
        ({"param_range": (3, -2)}, "low < high"),
        ({"points": 5}, "from 10 to 2000"),
        ({"param": "nope"}, "'nope'"),
        ({"second": "V_inp"}, "must differ"),
        ({"colour": 1}, "unknown option 'colour'"),
    ):
        with pytest.raises(ValueError, match=words):
            fhn.configure(**bad)
        assert fhn.options == before


def test_curves_in_two_parameters_meet_at_the_cusp():
    c = BifurcationController("FitzHughNagumoStep", params={"beta": 10.0}, second="beta", cycles=0)
    assert c.wait(300)
    folds = [cv for cv in c.curves if cv.kind == "fold"]
    assert folds, c.status
    # the two folds merge where the discriminant of 3 alpha V^2 - 2 beta V - gamma + 1/eps vanishes
    cusp = np.sqrt(3 * 3.0 * (1 / 0.5 + 1.5))
    lowest = np.nanmin(folds[0].values[:, 1])
    assert lowest == pytest.approx(cusp, abs=0.02)
    assert c.sources["here"].data["y"] == [10.0, 10.0]
    # regions: equilibria are the real roots of alpha V^3 - beta V^2 - gamma V + V / eps = V_inp
    r = c.regions
    expected = np.array(
        [
            [sum(abs(z.imag) < 1e-9 for z in np.roots([3.0, -b, 1.5 + 2.0, -p])) for p in r.first]
            for b in r.second
        ]
    )
    assert np.mean(r.count == expected) > 0.97
    assert {3, 1} <= set(np.unique(r.count))
    labels = set(c.sources["regions"].data["label"])
    assert "3 equilibria, 2 stable" in labels and "1 equilibrium, 1 stable" in labels
    assert c.sources["curves"].data["label"][0] in ("fold curve", "Hopf curve")
    c.close()


def test_code_recomputes_the_special_points_with_plain_brainmass(fhn, tmp_path):
    script = tmp_path / "bif.py"
    script.write_text(
        fhn.code() + "\nfor kind, p, x, f in found:\n    print('FOUND', kind, float(p), float(f))\n"
    )
    assert "brainmass_widgets" not in script.read_text()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("FOUND")]
    assert [r[1] for r in rows] == [sp.kind for sp in fhn.diagram.special]
    for row, sp in zip(rows, fhn.diagram.special, strict=True):
        assert float(row[2]) == pytest.approx(sp.param, abs=1e-4)
        if sp.kind == "hopf":
            assert float(row[3]) == pytest.approx(sp.frequency_hz, rel=1e-3)
