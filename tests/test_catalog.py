import brainmass
import brainunit as u
import numpy as np
import pytest

import brainmass_widgets as bw

NAMES = [m.name for m in brainmass.list_models() if not m.name.startswith("HORN")]


def test_catalog_covers_every_node_model():
    assert [s.name for s in bw.catalog()] == NAMES
    assert "KuramotoNetwork" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_param_specs_are_complete(name):
    spec = bw.model_spec(name)
    assert spec.params, name
    for p in spec.params.values():
        assert p.low <= p.default <= p.high
        assert 0 < p.step <= p.high - p.low
        assert p.doc and p.doc.endswith(".")
        assert p.unit is None or isinstance(p.unit, u.Unit)
        assert p.label.startswith(p.name)
    assert spec.default_monitor in spec.states
    assert spec.monitors == spec.states
    assert u.get_unit(spec.dt).has_same_dim(u.ms) and spec.duration > spec.dt


def test_param_defaults_are_the_constructors_unless_documented():
    import inspect

    for spec in bw.catalog():
        sig = inspect.signature(spec.model_class.__init__)
        for p in spec.params.values():
            if p.role != "param":
                continue
            d = sig.parameters[p.name].default
            d = float(d.mantissa) if isinstance(d, u.Quantity) else float(d)
            if d != p.default:
                assert p.name in spec.notes, (spec.name, p.name)


def test_units_come_from_the_constructor():
    spec = bw.model_spec("FitzHughNagumoStep")
    assert spec.params["tau"].unit == u.ms and spec.params["tau"].label == "tau [ms]"
    assert bw.model_spec("JansenRitStep").params["be"].unit == u.Hz
    assert bw.model_spec("HopfStep").params["a"].unit is None


def test_hopf_range_crosses_the_bifurcation():
    a = bw.model_spec("HopfStep").params["a"]
    assert a.low < 0 < a.high


def test_doc_is_taken_from_the_docstring():
    assert bw.model_spec("HopfStep").params["a"].doc.startswith("Bifurcation parameter")


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="HopfStep.*JansenRitStep"):
        bw.model_spec("Hopf")


@pytest.mark.parametrize("name", NAMES)
def test_every_model_runs_finite_and_not_constant_at_its_defaults(name):
    spec = bw.model_spec(name)
    res = bw.CachedSimulator(name).run(spec.duration)
    x = np.asarray(u.get_magnitude(res[spec.default_monitor]))
    assert res.diverged is None
    assert np.all(np.isfinite(x))
    assert np.ptp(x) > 1e-3 * max(1.0, np.abs(x).max()), f"{name} is flat at its defaults"


def test_lorenz_diverges_at_the_generic_dt_and_is_flagged():
    res = bw.CachedSimulator("LorenzStep", dt=0.1 * u.ms).run(200 * u.ms)
    x = np.asarray(res["x"])
    assert res.diverged is not None
    assert not np.all(np.isfinite(x[res.diverged]))
    assert np.all(np.isfinite(x[: res.diverged]))


def test_threshold_linear_inhibitory_rate_grows_as_the_note_warns():
    # The docstring's tau_I dI/dt = -I + beta_I [I_inp]+ would decay I(0) = 0.1 towards 0 with
    # I_inp = 0; brainmass 0.1.1 integrates the opposite sign, so I grows as I(0) exp(t / tau_I).
    spec = bw.model_spec("ThresholdLinearStep")
    assert "opposite sign" in spec.notes and "brainmass 0.1.1" in spec.notes
    res = bw.CachedSimulator("ThresholdLinearStep").run(20 * u.ms, monitors=["I"], init={"I": 0.1})
    t = np.asarray(u.get_magnitude(res["ts"].to(u.second)))
    i = np.asarray(u.get_magnitude(res["I"]))[:, 0]
    docstring = 0.1 * np.exp(-t / 0.01)
    assert i[-1] > 5 * i[0] and i[-1] > 10 * docstring[-1]
    np.testing.assert_allclose(i, 0.1 * np.exp(t / 0.01), rtol=1e-3)


# ----------------------------------------------------------------------------- default views teach


def _default_run(spec, monitors=None, **kw):
    """The model's default view: catalogue defaults, with the catalogue's default noise (if any)."""
    sim = bw.CachedSimulator(spec.name, noise=spec.default_noise or False)
    res = sim.run(spec.duration, params=dict(spec.default_noise_params), monitors=monitors, **kw)
    t = np.asarray(u.get_magnitude(res["ts"].to(u.second)))
    return t, {m: np.asarray(u.get_magnitude(res[m]), dtype=np.float64)[:, 0] for m in (monitors or
                                                                                    [spec.default_monitor])}


def _welch_peak(x, fs, seconds):
    from scipy.signal import welch

    f, p = welch(x - x.mean(), fs=fs, nperseg=int(seconds * fs))
    i = 1 + int(np.argmax(p[1:]))
    return f[i], p[i] / np.median(p[1:]), f[1] - f[0]


def _sustained_oscillation(x):
    """Second half: the last quarter swings as widely as the third and crosses its mean often."""
    n = len(x)
    third, last = x[n // 2: 3 * n // 4], x[3 * n // 4:]
    assert np.ptp(last) > 0.8 * np.ptp(third) > 0
    crossings = np.count_nonzero(np.diff(np.sign(last - last.mean())))
    assert crossings >= 4, crossings


def _settles(x):
    """The last quarter varies by less than 2 % of the whole run's swing (a stable fixed point)."""
    assert np.ptp(x[3 * len(x) // 4:]) < 0.02 * np.ptp(x)


def _limit_cycle(spec, t, x):
    # Normal form r' = (a - beta r^2) r, theta' = w (per ms): radius sqrt(a / beta), w / 2 pi kHz.
    p = {k: v.default for k, v in spec.params.items()}
    radius = np.sqrt(p["a"] / p.get("beta", 1.0))
    np.testing.assert_allclose(np.abs(x[3 * len(x) // 4:]).max(), radius, rtol=0.03)
    f, _, df = _welch_peak(x[len(x) // 4:], 1 / (t[1] - t[0]), 0.05)
    assert abs(f - p["w"] / (2 * np.pi) * 1e3) <= df


def _check_hopf(spec, t, x):
    _limit_cycle(spec, t, x)


def _check_stuart_landau(spec, t, x):
    _limit_cycle(spec, t, x)


def _check_van_der_pol(spec, t, x):
    # The van der Pol limit cycle has amplitude close to 2 for every mu (2.0086 at mu = 1); 100 ms
    # holds only a few cycles, still approaching it, hence 10 %.
    _sustained_oscillation(x)
    assert 1.8 < np.abs(x[len(x) // 2:]).max() < 2.2


def _check_oscillates(spec, t, x):
    _sustained_oscillation(x)


def _check_threshold_linear(spec, t, x):
    """E settles at beta_E E_inp (its fixed point with I = 0). I stays exactly 0, but only because
    brainmass 0.1.1 integrates I with the wrong sign (see the notes): I = 0 is then an unstable
    fixed point it starts on, so this default view does not show E-I inhibition."""
    _settles(x)
    np.testing.assert_allclose(x[-1], spec.params["beta_E"].default * spec.params["E_inp"].default, rtol=1e-3)
    _, i = _default_run(spec, monitors=["I"])
    assert np.all(i["I"] == 0)


def _check_damped(spec, t, x):
    """A stable fixed point: the swing decays and the state settles."""
    n = len(x)
    assert np.ptp(x[3 * n // 4:]) < 0.1 * np.ptp(x[: n // 4])
    assert np.ptp(x[3 * n // 4:]) < 0.8 * np.ptp(x[n // 2: 3 * n // 4])


def _check_lorenz(spec, t, x):
    """Chaos on the butterfly: both lobes are visited and a 1e-6 change of x(0) grows to the
    attractor's size within the run (positive Lyapunov exponent, about 0.9 per time unit)."""
    assert x[len(x) // 2:].min() < -5 < 5 < x[len(x) // 2:].max()
    sim = bw.CachedSimulator(spec.name)
    a, b = (np.asarray(sim.run(spec.duration, init={"x": x0, "y": 1.0, "z": 1.0})["x"])[:, 0]
            for x0 in (1.0, 1.0 + 1e-6))
    assert abs(a[0] - b[0]) < 1e-5 and np.abs(a - b)[len(a) // 2:].max() > 5


def _check_linear(spec, t, x):
    # dx/dt = gamma x (per ms) from x(0) = 1.
    gamma = spec.params["gamma"].default
    np.testing.assert_allclose(x, np.exp(gamma * (t * 1e3)), rtol=2e-3, atol=1e-9)


def _wilson_cowan_rhs(p):
    """The Wilson-Cowan equations of brainmass's docstring, per ms, at the values ``p``."""

    def f(x, a, theta):
        return 1 / (1 + np.exp(-a * (x - theta))) - 1 / (1 + np.exp(a * theta))

    def rhs(e, i):
        de = (-e + (1 - p["r"] * e) * f(p["wEE"] * e - p["wIE"] * i + p["rE_inp"], p["a_E"], p["theta_E"]))
        di = (-i + (1 - p["r"] * i) * f(p["wEI"] * e - p["wII"] * i, p["a_I"], p["theta_I"]))
        return np.array([de / p["tau_E"], di / p["tau_I"]])

    return rhs


def _constructor_values(spec):
    """The model constructor's defaults of the catalogue's parameters, in the catalogue's units."""
    import inspect

    sig = inspect.signature(spec.model_class.__init__)
    out = {}
    for name, p in spec.params.items():
        if p.role == "param":
            d = sig.parameters[name].default
            out[name] = float(d.to_decimal(p.unit)) if p.unit is not None else float(d)
    return out


def _check_wilson_cowan(spec, t, x):
    """The E-I limit cycle of Wilson & Cowan (1972). With the sigmoid F in (-d, 1 - d), d = F's offset
    1 / (1 + exp(a theta)), the box -d / (1 - d) <= rate <= 1 / r is never left. Along the rI-nullcline (one
    rI per rE: the rI equation falls monotonically in rI) the equations have one equilibrium in the
    box, and its Jacobian has complex eigenvalues with a positive real part: an unstable focus, so by
    Poincare-Bendixson every run settles on a limit cycle around it. The run must show that cycle:
    a constant swing around the focus and one sharp spectral peak."""
    from scipy.optimize import brentq

    p = {k: v.default for k, v in spec.params.items()}
    rhs = _wilson_cowan_rhs(p)
    d_e, d_i = (1 / (1 + np.exp(p[f"a_{s}"] * p[f"theta_{s}"])) for s in "EI")
    lo_e, lo_i, hi = -d_e / (1 - d_e), -d_i / (1 - d_i), 1 / p["r"]

    def i_nullcline(e):
        return brentq(lambda i: rhs(e, i)[1], lo_i, hi, xtol=1e-12)

    es = np.linspace(lo_e, hi, 2001)
    h = np.array([rhs(e, i_nullcline(e))[0] for e in es])
    crossings = np.flatnonzero(np.sign(h[:-1]) != np.sign(h[1:]))
    assert len(crossings) == 1, es[crossings]
    e0 = brentq(lambda e: rhs(e, i_nullcline(e))[0], es[crossings[0]], es[crossings[0] + 1], xtol=1e-12)
    i0 = i_nullcline(e0)
    eps = 1e-6
    jac = np.column_stack([(rhs(e0 + eps * de, i0 + eps * di) - rhs(e0 - eps * de, i0 - eps * di)) / (2 * eps)
                           for de, di in ((1, 0), (0, 1))])
    lam = np.linalg.eigvals(jac)
    assert np.all(lam.real > 0) and np.all(lam.imag != 0), lam

    _, r = _default_run(spec, monitors=["rE", "rI"])
    n = len(x)
    third, last = x[n // 2: 3 * n // 4], x[3 * n // 4:]
    assert np.ptp(last) > 0.1 and abs(np.ptp(last) - np.ptp(third)) < 0.02 * np.ptp(third)
    for s, centre, low in (("rE", e0, lo_e), ("rI", i0, lo_i)):
        half = r[s][n // 2:]
        assert low <= half.min() < centre < half.max() <= hi, (s, half.min(), centre, half.max())
    fs = 1 / (t[1] - t[0])
    f, clarity, df = _welch_peak(x[n // 4:], fs, 0.2)
    second = x[n // 2:]
    ups = np.flatnonzero((second[:-1] < second.mean()) & (second[1:] >= second.mean()))
    assert clarity > 1e3 and abs(f - fs / np.diff(ups).mean()) <= df, (f, clarity)
    # brainmass's constructor values (the catalogue's before): the same drive settles
    res = bw.CachedSimulator(spec.name).run(spec.duration, params=_constructor_values(spec))
    _settles(np.asarray(u.get_magnitude(res["rE"]), dtype=np.float64)[:, 0])


def _check_jansen_rit(spec, t, x):
    """Noise-driven alpha (Jansen & Rit 1995): the Welch spectrum after a 200 ms transient peaks in
    8-12 Hz, well above the median of the spectrum; without the noise the same input settles."""
    fs = 1 / (t[1] - t[0])
    f, clarity, _ = _welch_peak(x[t > 0.2], fs, 0.4)
    assert 8 <= f <= 12 and clarity > 100, (f, clarity)
    res = bw.CachedSimulator(spec.name).run(spec.duration)
    _settles(np.asarray(u.get_magnitude(res["E"]), dtype=np.float64)[:, 0])


def _check_wong_wang(spec, t, x):
    """A decision (Wong & Wang 2006) from rest, without noise. With K = gamma tau_S a and the
    threshold-linear r = a [I - theta]+, a pool whose rival is silent settles where
    S = (1 - S) K (J_N11 S + x), x = I_0 + J_A_ext mu_0 (1 + c) - theta, the positive root of
    K J_N11 S^2 + (1 - K J_N11 + K x) S - K x = 0; the loser, its input below theta, decays to 0.
    The undecided state S1 = S2 = S* of zero coherence (S = (1 - S) K ((J_N11 - J_N12) S + x0)) has
    the eigenvalue -1 / tau_S - gamma r* + (1 - S*) gamma a (J_N11 + J_N12) across the diagonal:
    positive (a saddle) at the catalogue's cross-inhibition, so the run must decide, for pool 1 at
    c > 0 and for pool 2 at -c; negative with the constructor's J_N12 = J_N21 = 0.0497 nA, whose runs
    stay undecided. Weaker evidence decides later."""
    p = {k: v.default for k, v in spec.params.items()}
    K = p["gamma"] * p["tau_S"] * p["a"]  # 1/nA (tau_S in s, a in Hz/nA)

    def winner(c):
        xw = p["I_0"] + p["J_A_ext"] * p["mu_0"] * (1 + c) - p["theta"]
        b = 1 - K * p["J_N11"] + K * xw
        return (-b + np.sqrt(b * b + 4 * K * p["J_N11"] * K * xw)) / (2 * K * p["J_N11"])

    def across_diagonal(j12):
        x0 = p["I_0"] + p["J_A_ext"] * p["mu_0"] - p["theta"]
        j = p["J_N11"] - j12
        b = 1 - K * j + K * x0
        s = (-b + np.sqrt(b * b + 4 * K * j * K * x0)) / (2 * K * j)
        rate = p["a"] * (j * s + x0)
        return -1 / p["tau_S"] - p["gamma"] * rate + (1 - s) * p["gamma"] * p["a"] * (p["J_N11"] + j12)

    _, s = _default_run(spec, monitors=["S1", "S2"])
    assert s["S1"][-1] - s["S2"][-1] > 0.5, "no decision: S1 and S2 end together"
    c = p.get("coherence", 0.0)
    assert c > 0 and p["J_N12"] == p["J_N21"]
    assert across_diagonal(p["J_N12"]) > 0 > across_diagonal(_constructor_values(spec)["J_N12"])
    np.testing.assert_allclose(s["S1"][-1], winner(c), rtol=2e-3)
    loser_input = p["I_0"] + p["J_A_ext"] * p["mu_0"] * (1 - c) - p["J_N21"] * winner(c)
    assert loser_input < p["theta"] and s["S2"][-1] < 1e-3
    assert 0.6 < winner(c) < 0.85
    sim = bw.CachedSimulator(spec.name)

    def run(**params):
        res = sim.run(spec.duration, params=params, monitors=["S1", "S2"])
        return (np.asarray(res[k], dtype=np.float64)[:, 0] for k in ("S1", "S2"))

    s1, s2 = run(coherence=-c)
    np.testing.assert_allclose(s2, s["S1"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(s1, s["S2"], rtol=1e-5, atol=1e-7)
    published = _constructor_values(spec)
    s1, s2 = run(J_N12=published["J_N12"], J_N21=published["J_N21"])
    assert abs(s1[-1] - s2[-1]) < 0.05
    decided = [np.argmax(np.abs(a - b) > 0.3) for a, b in (run(coherence=k) for k in (0.5, 0.05, 0.0125))]
    assert 0 < decided[0] < decided[1] < decided[2], decided


def _check_settles_positive(spec, t, x):
    _settles(x)
    assert x[-1] > 0


def _check_kuramoto(spec, t, x):
    # A lone oscillator (K has no partner): theta' = omega (per ms), from theta(0).
    omega = spec.params["omega"].default
    np.testing.assert_allclose(np.diff(x) / np.diff(t * 1e3), omega, rtol=1e-3)


_CHARACTERISTIC = {
    "HopfStep": _check_hopf,
    "VanDerPolStep": _check_van_der_pol,
    "StuartLandauStep": _check_stuart_landau,
    "FitzHughNagumoStep": _check_oscillates,
    "ThresholdLinearStep": _check_threshold_linear,
    "Generic2dOscillatorStep": _check_damped,
    "LorenzStep": _check_lorenz,
    "LinearStep": _check_linear,
    "WilsonCowanStep": _check_wilson_cowan,
    "JansenRitStep": _check_jansen_rit,
    "WongWangStep": _check_wong_wang,
    "WongWangExcInhStep": _check_settles_positive,
    "MontbrioPazoRoxinStep": _check_settles_positive,
    "CoombesByrneStep": _check_settles_positive,
    "LarterBreakspearStep": _check_oscillates,
    "EpileptorStep": _check_oscillates,
    "KuramotoNetwork": _check_kuramoto,
}


@pytest.mark.parametrize("spec", bw.catalog(), ids=lambda s: s.name)
def test_default_view_shows_the_models_characteristic_behaviour(spec):
    assert spec.name in _CHARACTERISTIC, f"no characteristic check for {spec.name}"
    t, x = _default_run(spec)
    _CHARACTERISTIC[spec.name](spec, t, x[spec.default_monitor])


def test_jansen_rit_explorer_starts_noise_driven_and_the_checkbox_keeps_it_on_E():
    spec = bw.model_spec("JansenRitStep")
    c = bw.ModelController("JansenRitStep")
    assert c.wait(120)
    assert c.simulator.adapter.noisy == ("E",) == spec.default_noise
    # 58 Hz: the standard deviation of Jansen & Rit's p(t), uniform in 120-320 Hz; exp-Euler OU
    # with noise_tau = 1 ms at dt = 0.1 ms has std sigma * sqrt(0.1 / (1 - exp(-0.2))).
    sigma, tau = c.params["noise_sigma"], c.params["noise_tau"]
    assert tau == 1.0 and abs(sigma * np.sqrt(0.1 / (1 - np.exp(-0.2))) - 200 / np.sqrt(12)) < 3
    x = c.sources["trajectory"].data["E[0]"].astype(np.float64)
    f, _, _ = _welch_peak(x[2000:], 1e4, 0.4)
    assert 8 <= f <= 12
    c.configure(noise=False)
    assert c.wait(120) and c.simulator.adapter.noisy == () and "noise_sigma" not in c.params
    c.configure(noise=True)
    assert c.wait(120) and c.simulator.adapter.noisy == ("E",) and c.params["noise_sigma"] == sigma
    c.configure(model="HopfStep")
    assert c.wait(120) and c.simulator.adapter.noisy == ()
    c.close()


def test_wilson_cowan_default_drive_is_on_the_bifurcation_diagrams_limit_cycle():
    """Against rE_inp the catalogue's drive lies past the fold where the low-activity state vanishes
    and before the Hopf point where the equilibrium regains stability: its one equilibrium is unstable
    and the diagram's cycle sweeps (runs from both ends of the range) oscillate there."""
    spec = bw.model_spec("WilsonCowanStep")
    drive = spec.params["rE_inp"].default
    d = bw.Bifurcation("WilsonCowanStep", "rE_inp", "rE").diagram((0.0, 5.0))
    folds = [sp.param for sp in d.special if sp.kind == "fold"]
    hopfs = [sp.param for sp in d.special if sp.kind == "hopf"]
    assert max(folds) < drive < min(hopfs), (folds, hopfs)
    assert [stable for _, stable in d.equilibria_at(drive)] == [False]
    i = int(np.argmin(np.abs(d.cycle_param - drive)))
    for lo, hi in d.cycles.values():
        assert hi[i] - lo[i] > 0.1, (lo[i], hi[i])
