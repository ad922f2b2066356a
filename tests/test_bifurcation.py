"""Bifurcation engine against independent references: closed-form equilibria, folds, Hopf points and
first Lyapunov coefficients derived below by hand, eigenvalues from numpy, and limit cycles from
scipy's ``solve_ivp``. No expected number here was copied from the engine's output.

Conventions: brainmass models are integrated per ms, so Jacobians and eigenvalues are in 1/ms and a
Hopf frequency ``omega`` (rad/ms) is ``1000 omega / 2 pi`` Hz. The first Lyapunov coefficient uses
Kuznetsov's normalisation (*Elements of Applied Bifurcation Theory*, eq. 3.20): ``A q = i omega q``,
``A^T p = -i omega p``, ``<q, q> = 1``, ``<p, q> = 1`` with ``<u, v> = conj(u) . v``, and

    2 omega l1 = Re[<p, C(q, q, qb)> - 2 <p, B(q, A^-1 B(q, qb))>
                    + <p, B(qb, (2 i omega - A)^-1 B(q, q))>]

with ``B`` and ``C`` the second and third derivatives of the vector field at the equilibrium.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, linear_sum_assignment

import brainmass_widgets as bw
from brainmass_widgets import _bifurcation
from brainmass_widgets._bifurcation import bialternate

#: brainmass FitzHughNagumoStep defaults (tau in ms).
FHN = {"alpha": 3.0, "beta": 4.0, "gamma": -1.5, "delta": 0.0, "epsilon": 0.5, "tau": 20.0}
#: FitzHugh-Nagumo with ``beta = 10``: an S-shaped equilibrium curve (two folds).
FHN10 = {**FHN, "beta": 10.0}


# ---------------------------------------------------------------------------------------------- references
#
# FitzHugh-Nagumo: dV/dt = -alpha V^3 + beta V^2 + gamma V - w + I,  dw/dt = (V - delta - epsilon w) / tau.
# Equilibria: w = (V - delta) / epsilon and I = alpha V^3 - beta V^2 - gamma V + (V - delta) / epsilon,
# so each V fixes one equilibrium and one drive I(V). The Jacobian there depends on V only:
#     J = [[m, -1], [1 / tau, -epsilon / tau]],  m = -3 alpha V^2 + 2 beta V + gamma,
#     tr J = m - epsilon / tau,  det J = (1 - epsilon m) / tau.
# Fold: det J = 0, i.e. dI/dV = 3 alpha V^2 - 2 beta V - gamma + 1 / epsilon = 0.
# Hopf: tr J = 0 with det J > 0; eigenvalues +-i sqrt(det J), frequency 1000 sqrt(det J) / (2 pi) Hz.


def fhn_drive(v, p):
    """Drive ``V_inp`` at which ``V`` is an equilibrium of FitzHugh-Nagumo with parameters ``p``."""
    return p["alpha"] * v ** 3 - p["beta"] * v ** 2 - p["gamma"] * v + (v - p["delta"]) / p["epsilon"]


def fhn_equilibria(drive, p):
    """Sorted real ``V`` of every equilibrium at drive ``drive`` (roots of ``I(V) = drive``)."""
    shift = -p["delta"] / p["epsilon"] - drive
    roots = np.roots([p["alpha"], -p["beta"], 1.0 / p["epsilon"] - p["gamma"], shift])
    return np.sort(roots[np.abs(roots.imag) < 1e-9].real)


def fhn_jacobian(v, p):
    """Jacobian(s) in 1/ms at equilibria with voltage(s) ``v``, shape ``v.shape + (2, 2)``."""
    v = np.asarray(v, dtype=np.float64)
    m = -3 * p["alpha"] * v ** 2 + 2 * p["beta"] * v + p["gamma"]
    second = np.stack([np.full_like(v, 1 / p["tau"]), np.full_like(v, -p["epsilon"] / p["tau"])], -1)
    return np.stack([np.stack([m, -np.ones_like(v)], -1), second], -2)


def fhn_folds(p):
    """Sorted ``V`` of the folds: real roots of ``dI/dV``."""
    roots = np.roots([3 * p["alpha"], -2 * p["beta"], 1.0 / p["epsilon"] - p["gamma"]])
    return np.sort(roots[np.abs(roots.imag) < 1e-12].real)


def fhn_hopfs(p):
    """Sorted ``V`` of the Hopf points: real roots of ``tr J`` where ``det J > 0``."""
    roots = np.roots([-3 * p["alpha"], 2 * p["beta"], p["gamma"] - p["epsilon"] / p["tau"]])
    v = np.sort(roots[np.abs(roots.imag) < 1e-12].real)
    return v[np.linalg.det(fhn_jacobian(v, p)) > 0]


def fhn_lyapunov(v, p):
    """First Lyapunov coefficient at the Hopf point with voltage ``v``: only ``dV/dt`` is nonlinear,
    ``B(a, b) = ((2 beta - 6 alpha V) a_V b_V, 0)`` and ``C(a, b, c) = (-6 alpha a_V b_V c_V, 0)``."""
    def b(x, y):
        return np.array([(2 * p["beta"] - 6 * p["alpha"] * v) * x[0] * y[0], 0.0])

    def c(x, y, z):
        return np.array([-6 * p["alpha"] * x[0] * y[0] * z[0], 0.0])

    return kuznetsov_l1(fhn_jacobian(v, p), b, c)


def kuznetsov_l1(a, b, c):
    """Kuznetsov's eq. 3.20 (see the module docstring) for a Jacobian ``a`` with one imaginary pair.

    Parameters
    ----------
    a : numpy.ndarray
        The Jacobian at the Hopf point, ``n x n``.
    b, c : callable
        The second and third derivatives of the vector field, for complex direction vectors.

    Returns
    -------
    float
    """
    lam, vr = np.linalg.eig(a)
    upper = np.nonzero(lam.imag > 0)[0]
    k = upper[np.argmin(np.abs(lam.real[upper]))]  # i omega, omega > 0
    omega = lam[k].imag
    q = vr[:, k] / np.linalg.norm(vr[:, k])
    lam_t, vl = np.linalg.eig(a.T)
    p = vl[:, np.argmin(np.abs(lam_t + 1j * omega))]
    p = p / np.conj(np.vdot(p, q))
    qb = np.conj(q)
    n = len(q)
    total = (np.vdot(p, c(q, q, qb)) - 2 * np.vdot(p, b(q, np.linalg.solve(a, b(q, qb))))
             + np.vdot(p, b(qb, np.linalg.solve(2j * omega * np.eye(n) - a, b(q, q)))))
    return float(total.real / (2 * omega))


def jansen_rit_reference(low, high):
    """Folds and Hopf points of Jansen-Rit (brainmass defaults) against the drive ``p`` in
    ``(low, high)``, computed in seconds along the equilibrium curve parametrised by ``M``.

    With ``S(v) = s_max / (1 + exp(r (v0 - v)))`` the equilibria satisfy ``M = Ae/be S(E - I)``,
    ``I = Ai/bi C a4 S(C a3 M)`` and ``E = Ae/be (p + C a2 S(C a1 M))``, so for ``0 < M < Ae s_max / be``:
    ``y = E - I = S^-1(be M / Ae)`` and ``p(M) = be/Ae (y + I) - C a2 S(C a1 M)``. Folds are the zeros of
    ``dp/dM``; Hopf points are where the real part of a complex pair of the analytic 6 x 6 Jacobian
    (order M, E, I, Mv, Ev, Iv) changes sign; ``l1`` is eq. 3.20 with the analytic ``B`` and ``C``.

    Returns
    -------
    folds : list of float
    hopfs : list of (float, float, float)
        ``(p, frequency in Hz, l1)`` per Hopf point.
    """
    ae, ai, be, bi, cc = 3.25, 22.0, 100.0, 50.0, 135.0  # mV, mV, 1/s, 1/s, 1
    a1, a2, a3, a4, smax, v0, r = 1.0, 0.8, 0.25, 0.25, 5.0, 6.0, 0.56  # 1, 1, 1, 1, 1/s, mV, 1/mV

    def sig(v, k=0):
        """``S`` (``k = 0``) or its ``k``-th derivative."""
        s = 1 / (1 + np.exp(r * (v0 - v)))
        poly = [1, 1 - s, (1 - s) * (1 - 2 * s), (1 - s) * (1 - 6 * s + 6 * s ** 2)][k]
        return smax * r ** k * s * poly

    def y_of(m):
        return v0 - np.log(smax * ae / (be * m) - 1) / r

    def p_of(m):
        return be / ae * (y_of(m) + ai / bi * cc * a4 * sig(cc * a3 * m)) - cc * a2 * sig(cc * a1 * m)

    def dp_of(m):
        return (be / ae * (be / ae / sig(y_of(m), 1) + ai / bi * cc * a4 * cc * a3 * sig(cc * a3 * m, 1))
                - cc * a2 * cc * a1 * sig(cc * a1 * m, 1))

    def jac(m):
        m = np.atleast_1d(m)
        j = np.zeros((len(m), 6, 6))
        j[:, 0, 3] = j[:, 1, 4] = j[:, 2, 5] = 1
        j[:, 3, 0], j[:, 3, 3] = -be ** 2, -2 * be
        j[:, 3, 1] = ae * be * sig(y_of(m), 1)
        j[:, 3, 2] = -j[:, 3, 1]
        j[:, 4, 0] = ae * be * cc * a2 * cc * a1 * sig(cc * a1 * m, 1)
        j[:, 4, 1], j[:, 4, 4] = -be ** 2, -2 * be
        j[:, 5, 0] = ai * bi * cc * a4 * cc * a3 * sig(cc * a3 * m, 1)
        j[:, 5, 2], j[:, 5, 5] = -bi ** 2, -2 * bi
        return j

    def margin(m):
        lam = np.linalg.eigvals(jac(m))
        return np.where(np.abs(lam.imag) > 1e-9 * np.abs(lam), lam.real, -np.inf).max(axis=1)

    def forms(m, k):
        """The ``k``-th derivative (2: B, 3: C) of the vector field, multilinear in ``k`` directions."""
        d_y, d_e, d_i = (sig(arg, k) * f for arg, f in ((y_of(m), ae * be),
                                                         (cc * a1 * m, ae * be * cc * a2 * (cc * a1) ** k),
                                                         (cc * a3 * m, ai * bi * cc * a4 * (cc * a3) ** k)))

        def form(*xs):
            along_m = np.prod([x[0] for x in xs])
            return np.array([0, 0, 0, d_y * np.prod([x[1] - x[2] for x in xs]), d_e * along_m, d_i * along_m])

        return form

    ms = np.linspace(1e-7, ae * smax / be * (1 - 1e-7), 20001)
    ps, dps, gs = p_of(ms), dp_of(ms), margin(ms)
    inside = (ps > low) & (ps < high)
    folds = [p_of(brentq(dp_of, ms[i], ms[i + 1])) for i in np.nonzero(np.diff(np.sign(dps)) != 0)[0]
             if inside[i]]
    hopfs = []
    for i in np.nonzero(np.isfinite(gs[:-1]) & np.isfinite(gs[1:]) & (np.diff(np.sign(gs)) != 0))[0]:
        if inside[i]:
            m = brentq(lambda x: margin(x)[0], ms[i], ms[i + 1], xtol=1e-15)
            lam = np.linalg.eigvals(jac(m)[0])
            freq = abs(lam[np.argmin(np.abs(lam.real))].imag) / (2 * np.pi)
            hopfs.append((p_of(m), freq, kuznetsov_l1(jac(m)[0], forms(m, 2), forms(m, 3))))
    return folds, hopfs


def fhn_final(drive, p, start, duration):
    """``V`` over the last third of a scipy run of ``duration`` ms from ``start``: its min and max."""
    def rhs(_, y):
        v, w = y
        return [-p["alpha"] * v ** 3 + p["beta"] * v ** 2 + p["gamma"] * v - w + drive,
                (v - p["delta"] - p["epsilon"] * w) / p["tau"]]

    sol = solve_ivp(rhs, (0.0, duration), start, rtol=1e-9, atol=1e-11, dense_output=True)
    v = sol.sol(np.linspace(2 * duration / 3, duration, 5001))[0]
    return v.min(), v.max()


def specials(diagram, kind):
    """The special points of one kind, sorted by parameter."""
    return [s for s in diagram.special if s.kind == kind]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def hopf():
    return bw.Bifurcation("HopfStep")


@pytest.fixture(scope="module")
def hopf_diagram(hopf):
    return hopf.diagram((-0.5, 0.5))


@pytest.fixture(scope="module")
def fhn():
    return bw.Bifurcation("FitzHughNagumoStep")


@pytest.fixture(scope="module")
def fhn_diagram(fhn):
    # 41 cycle values over (-2, 3): a grid step of 0.125, so 1.0 and 1.25 are on it
    return fhn.diagram(cycles=41)


@pytest.fixture(scope="module")
def fhn10_diagram(fhn):
    return fhn.diagram(params={"beta": 10.0}, cycles=0)


@pytest.fixture(scope="module")
def fold_pair_diagram(fhn):
    return fhn.diagram((-12.0, 3.0), params={"beta": 10.0}, cycles=0)


# ---------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("n", [3, 4, 6])
def test_bialternate_eigenvalues_are_the_pairwise_sums(n):
    a = np.random.default_rng(n).normal(size=(n, n)).astype(np.float32)
    got = np.linalg.eigvals(np.asarray(bialternate(a), dtype=np.float64))
    lam = np.linalg.eigvals(a.astype(np.float64))
    want = np.array([lam[i] + lam[j] for i in range(n) for j in range(i + 1, n)])
    assert got.shape == (n * (n - 1) // 2,)
    cost = np.abs(got[:, None] - want[None, :])
    rows, cols = linear_sum_assignment(cost)
    assert np.max(cost[rows, cols]) < 1e-4 * max(1.0, np.max(np.abs(want)))


@pytest.mark.parametrize("beta, w", [(1.0, 0.2), (2.0, 0.5)])
def test_hopf_oscillator_supercritical_hopf_at_zero(hopf, beta, w):
    # Polar form: r' = (a - beta r^2) r, theta' = w. The origin's Jacobian is [[a, -w], [w, a]]: a Hopf
    # at a = 0 with frequency w rad/ms. With q = (1, -i)/sqrt(2) the normal form z' = i w z + c1 z|z|^2
    # has |x| = sqrt(2)|z|, so r' = -beta r^3 gives Re c1 = -2 beta and l1 = Re c1 / w = -2 beta / w.
    d = hopf.diagram((-0.5, 0.5), params={"beta": beta, "w": w}, cycles=0)
    assert [s.kind for s in d.special] == ["hopf"]
    h = d.special[0]
    assert abs(h.param) < 1e-4
    assert h.frequency_hz == pytest.approx(1000 * w / (2 * np.pi), rel=1e-4)
    assert h.lyapunov == pytest.approx(-2 * beta / w, rel=0.01)
    assert h.criticality == "supercritical"


def test_hopf_oscillator_branch_is_the_origin_with_eigenvalues_a_plus_minus_iw(hopf_diagram):
    (br,) = hopf_diagram.branches
    assert br.param.min() <= -0.5 + 1e-6 and br.param.max() >= 0.5 - 1e-6
    assert np.max(np.abs(br.states)) < 1e-5
    want = np.stack([br.param - 0.2j, br.param + 0.2j], axis=1)
    np.testing.assert_allclose(np.sort_complex(br.eigenvalues), want, atol=1e-5)
    away = np.abs(br.param) > 1e-3
    np.testing.assert_array_equal(br.stable[away], br.param[away] < 0)


def test_hopf_oscillator_cycle_extent_is_sqrt_a(hopf_diagram):
    # r' = (a - r^2) r: for a > 0 the stable cycle is the circle r = sqrt(a), so x spans +-sqrt(a).
    a = hopf_diagram.cycle_param
    lo, hi = hopf_diagram.cycles["down"]
    big = a > 0.1
    assert big.sum() >= 10
    np.testing.assert_allclose(hi[big], np.sqrt(a[big]), rtol=0.05)
    np.testing.assert_allclose(lo[big], -np.sqrt(a[big]), rtol=0.05)
    assert np.all(np.isnan(hi[a < -0.05])) and np.all(np.isnan(lo[a < -0.05]))


def test_second_parameter_reuses_compiled_programs(hopf, hopf_diagram, xla_compiles):
    before, xla = _bifurcation._PROGRAMS.info()["compiles"], xla_compiles.count
    d = hopf.diagram((-0.5, 0.5), params={"w": 0.5})
    assert _bifurcation._PROGRAMS.info()["compiles"] == before
    assert xla_compiles.count == xla
    assert d.params["w"] == pytest.approx(0.5)
    assert d.special[0].frequency_hz == pytest.approx(500 / (2 * np.pi), rel=1e-4)


def test_fitzhugh_nagumo_two_hopf_points_and_no_fold(fhn_diagram):
    assert specials(fhn_diagram, "fold") == [] and len(fhn_folds(FHN)) == 0  # dI/dV > 0: no fold
    hopfs = specials(fhn_diagram, "hopf")
    v = fhn_hopfs(FHN)
    assert len(hopfs) == len(v) == 2
    for h, vh in zip(hopfs, v, strict=True):
        assert h.param == pytest.approx(fhn_drive(vh, FHN), abs=1e-4)
        assert h.state["V"] == pytest.approx(vh, abs=1e-4)
        assert h.state["w"] == pytest.approx(vh / FHN["epsilon"], abs=1e-4)
        det = np.linalg.det(fhn_jacobian(vh, FHN))
        assert h.frequency_hz == pytest.approx(1000 * np.sqrt(det) / (2 * np.pi), rel=1e-4)
        l1 = fhn_lyapunov(vh, FHN)
        assert l1 < 0 and h.lyapunov == pytest.approx(l1, rel=0.01)
        assert h.criticality == "supercritical"
    assert [h.param for h in hopfs] == pytest.approx([0.726, 1.332], abs=1e-3)


def test_fitzhugh_nagumo_cycle_extents_match_scipy(fhn_diagram):
    # Each of these drives has one attractor (checked from several starts), so both sweeps must
    # reproduce scipy's: a cycle between the Hopf points, a steady state outside them.
    grid = fhn_diagram.cycle_param
    for drive in (-1.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
        k = int(np.argmin(np.abs(grid - drive)))
        assert grid[k] == pytest.approx(drive)
        lo, hi = fhn_final(drive, FHN, [0.0, 0.0], 1500.0)
        for sweep in ("up", "down"):
            got_lo, got_hi = fhn_diagram.cycles[sweep][0][k], fhn_diagram.cycles[sweep][1][k]
            if hi - lo < 1e-6:
                assert np.isnan(got_lo) and np.isnan(got_hi), (drive, sweep)
            elif drive == 0.75:  # near a Hopf point the engine's fixed-step cycle differs more
                assert got_hi - got_lo == pytest.approx(hi - lo, rel=0.2), (drive, sweep)
            else:
                assert (got_lo, got_hi) == pytest.approx((lo, hi), abs=0.02), (drive, sweep)


def test_fitzhugh_nagumo_beta10_fold_and_subcritical_hopf_on_lower_branch(fhn10_diagram):
    # I(V) has a local max at the lower fold (I = 0.3246) and a local min (I = -9.008) outside (-2, 3).
    vf = fhn_folds(FHN10)
    assert len(vf) == 2 and fhn_drive(vf[1], FHN10) < -2 < fhn_drive(vf[0], FHN10) < 3
    (fold,) = specials(fhn10_diagram, "fold")
    assert fold.param == pytest.approx(fhn_drive(vf[0], FHN10), abs=1e-4)
    assert fold.param == pytest.approx(0.3246, abs=1e-4)
    assert fold.state["V"] == pytest.approx(vf[0], abs=1e-3)
    vh = fhn_hopfs(FHN10)
    v_low = vh[vh < vf[0]]  # on the lower branch, below the fold
    assert len(v_low) == 1
    (h,) = specials(fhn10_diagram, "hopf")
    assert h.param == pytest.approx(fhn_drive(v_low[0], FHN10), abs=1e-4)
    assert h.state["V"] == pytest.approx(v_low[0], abs=1e-4)
    det = np.linalg.det(fhn_jacobian(v_low[0], FHN10))
    assert h.frequency_hz == pytest.approx(1000 * np.sqrt(det) / (2 * np.pi), rel=1e-4)
    l1 = fhn_lyapunov(v_low[0], FHN10)
    assert l1 > 0 and h.lyapunov == pytest.approx(l1, rel=0.01)
    assert h.criticality == "subcritical"


def test_fold_pair_both_folds_and_unstable_middle_branch(fold_pair_diagram):
    vf = fhn_folds(FHN10)
    folds = specials(fold_pair_diagram, "fold")
    assert [f.param for f in folds] == pytest.approx(sorted(fhn_drive(vf, FHN10)), abs=1e-4)
    assert [f.param for f in folds] == pytest.approx([-9.008, 0.3246], abs=1e-3)
    states = np.concatenate([b.states for b in fold_pair_diagram.branches])
    param = np.concatenate([b.param for b in fold_pair_diagram.branches])
    stable = np.concatenate([b.stable for b in fold_pair_diagram.branches])
    eig = np.concatenate([b.eigenvalues for b in fold_pair_diagram.branches])
    v = states[:, 0]
    # every continuation point is an equilibrium (float32 in coordinates scaled to the range)
    np.testing.assert_allclose(param, fhn_drive(v, FHN10), atol=1e-4)
    np.testing.assert_allclose(states[:, 1], v / FHN10["epsilon"], atol=1e-4)
    # the branch passes through both folds: it covers V from below the lower to above the upper
    assert v.min() < vf[0] - 0.5 and v.max() > vf[1] + 0.5
    # between the folds det J < 0 (a saddle); elsewhere stability follows the analytic Jacobian
    jac = fhn_jacobian(v, FHN10)
    want = np.sort_complex(np.linalg.eigvals(jac))
    np.testing.assert_allclose(np.sort_complex(eig), want, atol=1e-4)
    middle = (v > vf[0] + 0.01) & (v < vf[1] - 0.01)
    assert middle.sum() > 10 and not stable[middle].any()
    tr, det = np.trace(jac, axis1=1, axis2=2), np.linalg.det(jac)
    clear = (np.abs(tr) > 1e-3) & (np.abs(det) > 1e-4)
    np.testing.assert_array_equal(stable[clear], ((tr < 0) & (det > 0))[clear])


def test_fold_pair_bistable_window(fold_pair_diagram):
    # In the window between the folds there are three equilibria; with the analytic Jacobian the
    # lowest and the highest are stable (tr J < 0, det J > 0) at I = -4 and the middle is a saddle.
    inside = fold_pair_diagram.equilibria_at(-4.0)
    v_ref = fhn_equilibria(-4.0, FHN10)
    assert len(inside) == len(v_ref) == 3
    got = sorted(inside, key=lambda e: e[0]["V"])
    np.testing.assert_allclose([e[0]["V"] for e in got], v_ref, atol=1e-3)
    jac = fhn_jacobian(v_ref, FHN10)
    want = (np.trace(jac, axis1=1, axis2=2) < 0) & (np.linalg.det(jac) > 0)
    assert list(want) == [True, False, True]
    assert [e[1] for e in got] == list(want)
    for drive in (-10.5, 1.0):  # outside the window: one equilibrium, stable
        (eq,) = fold_pair_diagram.equilibria_at(drive)
        (v1,) = fhn_equilibria(drive, FHN10)
        assert eq[0]["V"] == pytest.approx(v1, abs=1e-3)
        j = fhn_jacobian(v1, FHN10)
        assert eq[1] == bool(np.trace(j) < 0 and np.linalg.det(j) > 0)


def test_fitzhugh_nagumo_criticality_matches_simulation(fhn_diagram, fhn10_diagram):
    # Independent of eq. 3.20: just past a supercritical Hopf a small stable cycle appears whose
    # amplitude grows like sqrt(distance) (x4 distance: x2 amplitude); past a subcritical one the
    # run leaves the equilibrium's neighbourhood (here for the upper branch, V > 2).
    v1, v10 = fhn_hopfs(FHN)[0], fhn_hopfs(FHN10)[0]
    assert specials(fhn_diagram, "hopf")[0].criticality == "supercritical"

    def amplitude(distance):
        lo, hi = fhn_final(fhn_drive(v1, FHN) + distance, FHN, [v1 + 1e-3, v1 / FHN["epsilon"]], 3000.0)
        return hi - lo

    small, large = amplitude(2e-3), amplitude(8e-3)
    assert 0 < small < large < 0.3 and large / small == pytest.approx(2.0, rel=0.15)
    (h,) = specials(fhn10_diagram, "hopf")
    assert h.criticality == "subcritical"
    lo, _ = fhn_final(fhn_drive(v10, FHN10) + 2e-3, FHN10, [v10 + 1e-3, v10 / FHN10["epsilon"]], 3000.0)
    assert lo > 2


def test_fold_pair_also_finds_both_hopf_points(fold_pair_diagram):
    vh = fhn_hopfs(FHN10)
    assert len(vh) == 2
    hopfs = specials(fold_pair_diagram, "hopf")
    assert [h.param for h in hopfs] == pytest.approx(sorted(fhn_drive(vh, FHN10)), abs=1e-4)


def fhn10_states(drive):
    """Every equilibrium ``(V, w)`` of FitzHugh-Nagumo with ``beta = 10`` at ``drive``, sorted by ``V``."""
    v = fhn_equilibria(drive, FHN10)
    return np.stack([v, (v - FHN10["delta"]) / FHN10["epsilon"]], axis=1)


def hopf_states(_):
    """The one equilibrium ``(x, y)`` of the Hopf oscillator for every ``a``: the origin."""
    return np.zeros((1, 2))


@pytest.mark.parametrize("bif, diagram, params, prange, reference, tol", [
    ("fhn", "fold_pair_diagram", {"beta": 10.0}, (-12.0, 3.0), fhn10_states, 5e-3),
    ("hopf", "hopf_diagram", {}, (-0.5, 0.5), hopf_states, 1e-5),
])
def test_continuation_agrees_with_brute_force_search(bif, diagram, params, prange, reference, tol, request):
    bif, d = request.getfixturevalue(bif), request.getfixturevalue(diagram)
    values = np.linspace(*prange, 50)
    brute = bif.equilibria(values, params=params, param_range=prange)
    counts = []
    for v, found in zip(values, brute, strict=True):
        want = reference(v)
        on_branch = np.array([[e[s] for s in d.states] for e, _ in d.equilibria_at(v)])
        assert len(found) == len(on_branch) == len(want), v
        np.testing.assert_allclose(found[np.argsort(found[:, 0])], want, atol=1e-4)
        # every brute-force equilibrium lies on a branch, and every branch crossing is one of them
        # (the branch is interpolated linearly between continuation points: tol)
        dist = np.max(np.abs(found[:, None, :] - on_branch[None, :, :]), axis=2)
        assert np.all(dist.min(axis=1) < tol) and np.all(dist.min(axis=0) < tol), v
        counts.append(len(want))
    assert max(counts) == (3 if diagram == "fold_pair_diagram" else 1)


def test_jansen_rit_against_grimbert_faugeras():
    """Jansen-Rit against its drive ``E_inp`` (p, Hz) in (0, 400).

    Reference: F. Grimbert and O. Faugeras (2006), "Bifurcation analysis of Jansen's neural mass
    model", Neural Computation 18(12):3052-3068: Hopf points at p = 89.83 and p = 315.70 and a fold
    (saddle-node) near p = 113.5. Also checked, more tightly, against :func:`jansen_rit_reference`.
    """
    d = bw.Bifurcation("JansenRitStep").diagram((0.0, 400.0), cycles=0)
    folds, hopfs = jansen_rit_reference(0.0, 400.0)
    assert [s.kind for s in d.special] == ["hopf", "fold", "hopf"]
    (fold,) = specials(d, "fold")
    assert fold.param == pytest.approx(113.5, abs=0.1)
    assert [fold.param] == pytest.approx(folds, abs=0.01)
    got = specials(d, "hopf")
    assert [h.param for h in got] == pytest.approx([89.83, 315.70], abs=0.1)
    assert [h.param for h in got] == pytest.approx([h[0] for h in hopfs], abs=0.01)
    assert [h.frequency_hz for h in got] == pytest.approx([h[1] for h in hopfs], rel=1e-3)
    # l1 = Re c1 / omega does not depend on the time unit (s here, ms in the engine), only on the state
    # units (mV and mV/s): both supercritical
    assert [h.lyapunov for h in got] == pytest.approx([h[2] for h in hopfs], rel=0.01)
    assert [h.criticality for h in got] == ["supercritical", "supercritical"]


@pytest.mark.parametrize("call, pattern", [
    (lambda: bw.Bifurcation("HopfStep", param="nope"), r"'nope'"),
    (lambda: bw.Bifurcation("HopfStep", variable="z"), r"'z'"),
    (lambda: bw.Bifurcation("HopfStep").diagram(params={"gain": 1.0}), r"'gain'"),
    (lambda: bw.Bifurcation("HopfStep").diagram((0.5, 0.5)), r"range of 'a'.*\(0\.5, 0\.5\)"),
    (lambda: bw.Bifurcation("HopfStep").diagram((0.7, -0.2)), r"range of 'a'.*\(0\.7, -0\.2\)"),
    (lambda: bw.Bifurcation("HopfStep").diagram((float("nan"), 1.0)), r"range of 'a'.*nan"),
    (lambda: bw.Bifurcation("HopfStep").diagram((-0.5, 0.5), points=5), r"points.*got 5"),
])
def test_bad_input_raises_value_error_naming_the_value(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_equilibria_at_a_branch_node_counts_it_once(hopf_diagram):
    node = hopf_diagram.branches[0].param[5]
    assert len(hopf_diagram.equilibria_at(node)) == 1
