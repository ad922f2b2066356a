"""Phase-plane engine: derivatives from the model itself, nullclines, fixed points, stability."""

import brainstate
import brainunit as u
import numpy as np
import pytest
from scipy.spatial import cKDTree

import brainmass_widgets as bw
from brainmass_widgets._phase import PhasePlane, classify, planar_models, zero_level

RNG = np.random.default_rng(0)


def _catalogue_values(spec):
    """Constructor keywords for a plain brainmass model at the catalogue's parameter values."""
    return {k: p.quantity(p.default) for k, p in spec.params.items() if p.role == "param"}


def _plain_derivative(name, points, inputs):
    """``model.derivative`` of a plain brainmass model at ``points`` (per ms, state units)."""
    spec = bw.model_spec(name)
    n = len(next(iter(points.values())))
    model = spec.model_class(n, **_catalogue_values(spec))
    with brainstate.environ.context(dt=spec.dt):
        brainstate.nn.init_all_states(model)
        state = tuple(points[s] if spec.state_units[s] is None else points[s] * spec.state_units[s]
                      for s in spec.states)
        d = model.derivative(state, 0.0 * u.ms, *inputs)
    out = {}
    for s, v in zip(spec.states, d, strict=True):
        q = v * u.ms
        unit = spec.state_units[s]
        out[s] = np.asarray(u.maybe_decimal(q) if unit is None else u.get_magnitude(q.in_unit(unit)))
    return out


@pytest.mark.parametrize("name, inputs", [
    ("HopfStep", (0.0, 0.0)),
    ("FitzHughNagumoStep", (1.0, 0.0)),
    ("WilsonCowanStep", (1.25, 0.0)),
    ("LorenzStep", (0.0,)),
    ("CoombesByrneStep", (0.0, 0.0)),
    ("Generic2dOscillatorStep", (0.0,)),
])
def test_derivative_equals_the_models_own_derivative_method(name, inputs):
    spec = bw.model_spec(name)
    points = {s: RNG.uniform(-0.8, 0.8, 50).astype(np.float32) for s in spec.states}
    mine = PhasePlane(name).derivative(points)
    ref = _plain_derivative(name, points, inputs)
    for s in spec.states:
        np.testing.assert_allclose(mine[s], ref[s], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["ThresholdLinearStep", "WongWangStep"])
def test_derivative_matches_one_small_step_of_plain_brainmass(name):
    """Models without a ``derivative`` method: one exponential-Euler step of a plain brainmass
    model, divided by a small dt, approaches the derivative."""
    spec = bw.model_spec(name)
    points = {s: RNG.uniform(0.2, 0.6, 20).astype(np.float32) for s in spec.states}
    mine = PhasePlane(name).derivative(points)
    dt = 0.01 * u.ms
    model = spec.model_class(20, **_catalogue_values(spec))
    with brainstate.environ.context(dt=dt):
        brainstate.nn.init_all_states(model)
        for s in spec.states:
            getattr(model, s).value = points[s]
        values = {k: p.default for k, p in spec.params.items()}
        model.update(**spec.inputs(values))
        for s in spec.states:
            step = (np.asarray(getattr(model, s).value, dtype=np.float64) - points[s]) / 0.01
            np.testing.assert_allclose(step, mine[s], rtol=2e-2, atol=2e-4)


def test_field_is_the_derivative_at_the_grid_points():
    pp = PhasePlane("FitzHughNagumoStep")
    field = pp.field((-2, 2), (-1, 2), (30, 20), params={"alpha": 2.0})
    assert field.dx.shape == (20, 30)
    j, i = 7, 11
    d = pp.derivative({"V": field.xs[i], "w": field.ys[j]}, params={"alpha": 2.0})
    assert d["V"][0] == pytest.approx(field.dx[j, i], rel=1e-6, abs=1e-7)
    assert d["w"][0] == pytest.approx(field.dy[j, i], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("name", ["HopfStep", "FitzHughNagumoStep", "WilsonCowanStep", "WongWangStep"])
def test_nullclines_are_where_the_derivative_vanishes(name):
    pp = PhasePlane(name)
    ranges = {"HopfStep": ((-1, 1), (-1, 1)), "FitzHughNagumoStep": ((-2.5, 2.5), (-1, 2.5)),
              "WilsonCowanStep": ((0, 1), (0, 1)), "WongWangStep": ((0, 1), (0, 1))}[name]
    field = pp.field(*ranges, 120, params={"a": 0.3} if name == "HopfStep" else None)
    nullclines = pp.nullclines(field)
    for k, (state, (xs, ys)) in enumerate(nullclines.items()):
        ok = np.isfinite(xs)
        assert ok.sum() > 20, f"no {state}-nullcline found"
        d = pp.derivative({pp.x: xs[ok], pp.y: ys[ok]}, params={"a": 0.3} if name == "HopfStep" else None)
        grid = np.abs(field.dx if k == 0 else field.dy)
        # linear interpolation between grid points: far below the field's typical size
        assert np.median(np.abs(d[state])) < 2e-3 * np.median(grid), state


def test_zero_level_traces_a_circle():
    xs = ys = np.linspace(-1, 1, 101)
    X, Y = np.meshgrid(xs, ys)
    px, py = zero_level(xs, ys, X**2 + Y**2 - 0.25)
    r = np.hypot(px, py)[np.isfinite(px)]
    assert len(r) > 100
    np.testing.assert_allclose(r, 0.5, atol=1e-3)


def _saddle_cells(f):
    """Grid cells whose four corners alternate in sign: four crossings, two ways to pair them."""
    p = f > 0
    return np.argwhere((p[:-1, :-1] != p[:-1, 1:]) & (p[:-1, 1:] != p[1:, 1:])
                       & (p[1:, 1:] != p[1:, :-1]) & (p[1:, :-1] != p[:-1, :-1]))


def test_nullclines_keep_two_branches_through_one_cell_apart():
    """Hopf at w = 0: each nullcline is a line through the origin and the circle r^2 = a
    (dx/dt = (a - r^2) x, dy/dt = (a - r^2) y), crossing twice. A small w splits each crossing into
    two branches passing within one cell; with cell centres on the crossings, those cells have four
    sign changes. Their crossings must be joined along the branches: a chord joining the two
    branches runs through the band between them, its midpoint about half a cell from the zero set,
    while a chord along a branch strays from it by a small fraction of a cell."""
    pp = PhasePlane("HopfStep")
    params = {"a": 0.25, "w": 0.001}
    rng = (-0.975, 0.975)  # 40 points: cells of h = 0.05 centred on (+-0.5, 0) and (0, +-0.5)
    field = pp.field(rng, rng, 40, params=params)
    h = float(field.xs[1] - field.xs[0])
    # the zero set located without any contouring: centres of the cells of a ten times finer grid
    # whose corners change sign
    fine = pp.field(rng, rng, 400, params=params)
    for state, (lx, ly), f, f_fine in zip((pp.x, pp.y), pp.nullclines(field).values(), (field.dx, field.dy),
                                          (fine.dx, fine.dy), strict=True):
        assert len(_saddle_cells(f)) == 2, state
        on = np.isfinite(lx)
        d = pp.derivative({pp.x: lx[on], pp.y: ly[on]}, params=params)[state]
        assert np.max(np.abs(d)) < 0.02 * np.median(np.abs(f)), state
        p = f_fine > 0
        change = ((p[:-1, :-1] != p[:-1, 1:]) | (p[:-1, :-1] != p[1:, :-1])
                  | (p[1:, 1:] != p[:-1, 1:]) | (p[1:, 1:] != p[1:, :-1]))
        j, i = np.nonzero(change)
        zero = cKDTree(np.c_[fine.xs[i] + fine.xs[i + 1], fine.ys[j] + fine.ys[j + 1]] / 2)
        seg = on[:-1] & on[1:]
        mid = np.c_[lx[:-1][seg] + lx[1:][seg], ly[:-1][seg] + ly[1:][seg]] / 2
        gap = zero.query(mid)[0].max() / h
        assert gap < 0.35, f"{state}: a segment leaves the zero set by {gap:.2f} cells"


def test_hopf_below_the_bifurcation_has_one_stable_focus_at_the_origin():
    fps = PhasePlane("HopfStep").fixed_points((-1, 1), (-1, 1), params={"a": -0.2, "w": 0.3})
    assert len(fps) == 1
    (fp,) = fps
    assert fp.stability == "stable focus"
    assert abs(fp.state["x"]) < 1e-5 and abs(fp.state["y"]) < 1e-5
    # the linearisation at the origin is [[a, -w], [w, a]]: eigenvalues a ± i w
    np.testing.assert_allclose(sorted(z.imag for z in fp.eigenvalues), [-0.3, 0.3], rtol=1e-5)
    np.testing.assert_allclose([z.real for z in fp.eigenvalues], [-0.2, -0.2], rtol=1e-5)


def test_hopf_above_the_bifurcation_settles_on_the_limit_cycle():
    a, beta = 0.4, 1.5
    fps = PhasePlane("HopfStep").fixed_points((-1, 1), (-1, 1), params={"a": a, "beta": beta})
    assert [fp.stability for fp in fps] == ["unstable focus"]
    sim = bw.CachedSimulator("HopfStep", in_size=1)
    for x0, y0 in [(0.05, 0.0), (1.0, 1.0), (-0.2, 0.6)]:
        res = sim.run(400 * u.ms, params={"a": a, "beta": beta}, init={"x": x0, "y": y0}, monitors=["x", "y"])
        r = np.hypot(np.asarray(res["x"])[-300:, 0], np.asarray(res["y"])[-300:, 0])
        np.testing.assert_allclose(r, np.sqrt(a / beta), rtol=0.02)


def test_wong_wang_decision_landscape_has_three_attractors_and_two_saddles():
    # brainmass's own cross-inhibition (the catalogue's default makes the undecided state a saddle)
    published = {"J_N12": 0.0497, "J_N21": 0.0497, "coherence": 0.0}
    fps = PhasePlane("WongWangStep").fixed_points((0, 1), (0, 1), params=published)
    kinds = sorted(fp.stability for fp in fps)
    assert kinds == ["saddle", "saddle", "stable node", "stable node", "stable node"]
    # the decision model is symmetric at zero coherence: S1 <-> S2 maps the set onto itself
    pts = sorted((round(fp.state["S1"], 3), round(fp.state["S2"], 3)) for fp in fps)
    assert pts == sorted((b, a) for a, b in pts)


@pytest.mark.parametrize("lam, label", [
    ((-1, -2), "stable node"), ((1, 2), "unstable node"), ((-1 - 2j, -1 + 2j), "stable focus"),
    ((1 - 2j, 1 + 2j), "unstable focus"), ((-1, 2), "saddle"), ((-2j, 2j), "center"),
])
def test_stability_labels(lam, label):
    assert classify(lam) == label


def test_every_planar_model_gives_a_finite_field():
    for spec in planar_models():
        pp = PhasePlane(spec.name)
        field = pp.field((0.1, 0.9), (0.1, 0.9), 12)
        assert np.isfinite(field.dx).all() and np.isfinite(field.dy).all(), spec.name


def test_a_parameter_change_reuses_the_compiled_field():
    pp = PhasePlane("VanDerPolStep")
    pp.field((-2, 2), (-2, 2), 64)
    from brainmass_widgets._phase import _PROGRAMS
    before = _PROGRAMS.info()["compiles"]
    for mu in (0.5, 1, 2):
        pp.field((-3, 3), (-3, 3), 64, params={"mu": mu})
    assert _PROGRAMS.info()["compiles"] == before


def test_bad_input_names_the_value():
    with pytest.raises(ValueError, match="one state variable.*at least two"):
        PhasePlane("LinearStep")
    with pytest.raises(ValueError, match=r"'q' is not a state variable of HopfStep; valid: x, y"):
        PhasePlane("HopfStep", x="q")
    with pytest.raises(ValueError, match="different state variables"):
        PhasePlane("HopfStep", x="y", y="y")
    pp = PhasePlane("LorenzStep", x="x", y="y")
    with pytest.raises(ValueError, match="'x' cannot be held.*held state variables: z"):
        pp.field((-1, 1), (-1, 1), 10, held={"x": 1.0})
    with pytest.raises(ValueError, match=r"range of 'x'.*low < high"):
        pp.field((1, -1), (-1, 1), 10)
    with pytest.raises(ValueError, match="unknown parameter 'mu'"):
        pp.field((-1, 1), (-1, 1), 10, params={"mu": 1.0})
