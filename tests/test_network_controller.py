"""The network controller: sources from the engine, FC and R of the run, sweep and pick, bad input."""

import time

import brainunit as u
import numpy as np
import pytest

import brainmass_widgets as bw
from brainmass_widgets._network import order_parameter


def mag(x):
    return np.asarray(u.get_magnitude(x))


@pytest.fixture(scope="module")
def controller():
    c = bw.NetworkController(params={"a": -0.05, "noise_sigma": 0.02, "k": 0.5}, duration=1000.0,
                             transient=100.0, sweep=("k", 0.0, 1.5, 4))
    assert c.wait(300)
    yield c
    c.close()


def test_sources_hold_the_run_its_fc_and_order_parameter(controller):
    c = controller
    net = bw.NetworkModel("HopfStep", speed=5.0, noise=True)
    ref = bw.CachedSimulator(net).run(1000 * u.ms, params={"a": -0.05, "noise_sigma": 0.02, "k": 0.5},
                                      monitors=["x"], init=net.initial_state(0))
    x = mag(ref["x"])
    labels = c.network.connectome.labels
    for i, label in enumerate(labels):
        np.testing.assert_allclose(c.sources["regions"].data[label], x[:, i], rtol=1e-5, atol=1e-6)
    fc = np.asarray(c.sources["fc"].data["value"]).reshape(8, 8)
    np.testing.assert_allclose(fc, np.corrcoef(x[1000:].T), atol=1e-4)
    r = order_parameter(x[1000:].astype(np.float64))
    t = mag(ref["ts"] / u.ms)[1000:]
    order = c.sources["order"].data
    assert len(order["R"]) > 1000
    np.testing.assert_allclose(order["R"], np.interp(order["t"], t, r), atol=1e-4)
    np.testing.assert_allclose(np.asarray(c.sources["connectivity"].data["value"]).reshape(8, 8),
                               c.network.connectome.weights)
    assert c.status.kind == "done" and "mean FC" in c.status.message


def test_matrices_and_legends_read_right(controller):
    from bokeh.models import ColorBar

    c = controller
    labels = list(c.network.connectome.labels)
    fc = c.figures["fc"]
    mapper = fc.select_one(ColorBar).color_mapper
    assert mapper.low < mapper.high and (mapper.low, mapper.high) == (-1.0, 1.0)
    for name, title in (("connectivity", "weight"), ("fc", "Pearson r")):
        fig = c.figures[name]
        assert fig.select_one(ColorBar).title == title
        for axis in (fig.xaxis[0], fig.yaxis[0]):
            assert [axis.major_label_overrides[i] for i in axis.ticker.ticks] == labels
        assert (fig.y_range.start, fig.y_range.end) == (len(labels) - 0.5, -0.5)
    assert c.figures["order"].yaxis[0].axis_label.startswith("R")
    (legend,) = c.figures["regions"].legend
    assert legend in c.figures["regions"].right
    assert [item.label.value for item in legend.items] == labels and legend.nrows >= len(labels)
    (legend,) = c.figures["coupling_sweep"].legend
    assert legend in c.figures["coupling_sweep"].right
    assert [item.label.value for item in legend.items] == ["mean FC", "mean R"]


def test_sweep_fills_and_a_pick_loads_the_value(controller):
    c = controller
    c.sweep()
    assert c.wait(300)
    fc, r = c.sweep_result[:, 0], c.sweep_result[:, 1]
    assert np.all(np.isfinite(fc)) and fc[0] < fc[-1] and r[0] < r[-1]
    np.testing.assert_allclose(c.sources["coupling_sweep"].data["fc"], fc)
    assert c.pick(2) == {"k": 1.0}
    assert c.wait(120)
    assert c.params["k"] == 1.0
    fc_matrix = np.asarray(c.sources["fc"].data["value"]).reshape(8, 8)
    assert fc_matrix[~np.eye(8, dtype=bool)].mean() == pytest.approx(fc[2], abs=1e-3)


def test_code_reproduces_the_run(controller):
    c = controller
    namespace = {}
    exec(c.code(), namespace)
    np.testing.assert_allclose(mag(namespace["result"]["x"]), mag(c.result["x"]), rtol=1e-5, atol=1e-5)


def test_bad_input_is_refused_and_nothing_changes(controller):
    c = controller
    before = c.options
    with pytest.raises(ValueError, match="square"):
        c.configure(connectome=np.ones((3, 4)))
    with pytest.raises(ValueError, match="unknown parameter 'mu'"):
        c.set(mu=1.0)
    with pytest.raises(ValueError, match="coupling must be one of"):
        c.configure(coupling="magnetic")
    with pytest.raises(ValueError, match="sweep range"):
        c.configure(sweep=("k", 2.0, 1.0, 8))
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        c.configure(colour="red")
    assert c.options == before and c.status.kind == "error"


def _mean_fc_and_r(c):
    fc = np.asarray(c.sources["fc"].data["value"]).reshape(8, 8)
    x = np.stack([c.sources["regions"].data[label] for label in c.network.connectome.labels], axis=1)
    return fc[~np.eye(8, dtype=bool)].mean(), order_parameter(x[2000:].astype(np.float64)).mean()


def test_at_the_defaults_uncoupled_regions_are_uncorrelated_and_fc_rises_with_k():
    # Defaults: HopfStep at a = -0.05 (damping rate 0.05 / ms, oscillating at w = 0.2 rad / ms), noise on,
    # independent random phases, 2 s runs less a 200 ms transient.
    c = bw.NetworkController()
    assert c.wait(300)
    assert c.params["a"] == -0.05 and c.options["noise"] and c.params["k"] == 0.5
    start = c.network.initial_state(0)
    assert np.ptp(np.arctan2(start["y"], start["x"])) > 1.0  # the regions do not share a start
    results = {}
    for k in (0.0, 1.0):
        c.set(k=k)
        assert c.wait(120) and c.status.kind == "done"
        results[k] = _mean_fc_and_r(c)
    (fc0, r0), (fc1, r1) = results[0.0], results[1.0]
    # k = 0: independent regions. Each pair's sample r scatters by about sqrt(tau_c / T), with
    # tau_c = 1 / (2 |a|) = 10 ms and T = 1.8 s: 0.075 per pair, ~0.015 for the mean of 28 pairs.
    assert abs(fc0) < 0.1
    # Random phases of 8 regions: E[R] ~ sqrt(pi / (4 * 8)) = 0.31, far from 1.
    assert r0 < 0.45
    # k = 1: the coupling rate k w (mean off-diagonal w = 0.5) is ten times the damping |a|, so the
    # regions are driven mostly by one another: FC far above the uncoupled scatter.
    assert fc1 > 0.3 and fc1 > fc0 + 0.25 and r1 > r0
    c.close()


def test_seeds_draw_different_starts_each_uncoupled_run_uncorrelated():
    c = bw.NetworkController(params={"k": 0.0}, duration=2000.0, autorun=False)
    traces = {}
    for seed in (1, 2):
        c.configure(seed=seed)
        c.run()
        assert c.wait(120) and c.status.kind == "done"
        fc0, _ = _mean_fc_and_r(c)
        assert abs(fc0) < 0.1
        traces[seed] = mag(c.result["x"])
    assert not np.allclose(traces[1], traces[2])
    net = c.network
    assert not np.allclose(net.initial_state(1)["x"], net.initial_state(2)["x"])
    np.testing.assert_array_equal(net.initial_state(2)["x"], net.initial_state(2)["x"])
    c.close()


def test_a_node_change_resets_its_parameters_and_coupled_variable():
    c = bw.NetworkController(autorun=False)
    c.configure(node="WilsonCowanStep")
    assert c.options["coupled_var"] == "rE"
    assert "a" not in c.params and "k" in c.params
    c.configure(connectome=np.ones((3, 3)) - np.eye(3), speed=None)
    assert c.network.n == 3 and c.network.speed is None


def test_a_long_coupling_sweep_can_be_cancelled():
    c = bw.NetworkController(params={"a": -0.05}, duration=500.0, transient=100.0, sweep=("k", 0.0, 2.0, 64),
                             autorun=False)
    seen = []
    c.on_status(seen.append)
    c.sweep()
    deadline = time.monotonic() + 120
    while not any(s.kind == "running" and s.progress > 0 for s in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    c.cancel_sweep()
    assert c.wait(120)
    assert c.status.kind == "cancelled" and "cancelled after" in c.status.message
    done = np.isfinite(c.sweep_result[:, 0])
    assert 0 < done.sum() < 64
    c.close()


def test_before_a_sweep_the_coupling_axis_spans_the_swept_range():
    c = bw.NetworkController(autorun=False, sweep=("k", 0.0, 1.5, 8))
    extent = c.figures["coupling_sweep"].select_one({"name": "extent"}).data_source
    assert list(extent.data["x"]) == [0.0, 1.5]
    c.close()
