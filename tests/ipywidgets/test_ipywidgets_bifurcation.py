"""The ipywidgets bifurcation explorer: controls drive the controller, bad input reverts."""

import numpy as np

from brainmass_widgets.ipywidgets import BifurcationExplorer


def test_sliders_redraw_the_diagram_and_bad_input_reverts():
    e = BifurcationExplorer("FitzHughNagumoStep", cycles=0)
    assert e.wait(300)
    assert [sp.kind for sp in e.diagram.special] == ["hopf", "hopf"]
    e.sliders["beta"].value = 10.0
    assert e.wait(300)
    assert [sp.kind for sp in e.diagram.special] == ["hopf", "fold"]
    # the fold where d V_inp / dV = 9 V^2 - 20 V + 3.5 vanishes (alpha 3, beta 10, gamma -1.5, eps 0.5)
    v = min(np.roots([9.0, -20.0, 3.5]).real)
    assert abs(e.diagram.special[1].param - (3 * v**3 - 10 * v**2 + 1.5 * v + 2 * v)) < 1e-4
    e.controls["points"].value = 10
    e.controls["high"].value = -5.0
    assert "low &lt; high; got (-2.0, -5.0)" in e._status.value
    assert e.controls["high"].value == 3.0 and e.controller.options["param_range"] == (-2.0, 3.0)
    e.close()
