"""The compiled programs of a bifurcation analysis: the defining systems of equilibria, fold and Hopf
points in scaled coordinates, and the vmapped pseudo-arclength continuation, Newton solve, Jacobian
and multilinear-form programs built from them.

Everything is traced from the model's own right-hand side (:meth:`PhasePlane.traced_derivative`).
Parameters are traced arguments, so the programs are cached by model, system and batch size and
reused when another parameter moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._compile import CompileCache
from ._phase import PhasePlane

__all__ = ["BifurcationPrograms", "bialternate"]

_ITERS = 6  # corrector iterations per continuation step


def bialternate(a: jax.Array) -> jax.Array:
    """The bialternate product ``2 A (.) I`` of an ``n x n`` matrix, ``n (n - 1) / 2`` square.

    Its eigenvalues are the sums ``lambda_i + lambda_j`` (``i < j``) of the eigenvalues of ``A``,
    so its determinant vanishes where a complex pair crosses the imaginary axis (a Hopf point) or
    two real eigenvalues sum to zero (a neutral saddle).

    Parameters
    ----------
    a : jax.Array
        A square matrix, shape ``(n, n)``.

    Returns
    -------
    jax.Array
        Shape ``(n (n - 1) / 2, n (n - 1) / 2)``.
    """
    n = a.shape[0]
    pairs = [(p, q) for p in range(1, n) for q in range(p)]
    rows = []
    for p, q in pairs:
        row = []
        for r, s in pairs:
            if r == p and s == q:
                row.append(a[p, p] + a[q, q])
            elif r == q:
                row.append(-a[p, s])
            elif r != p and s == q:
                row.append(a[p, r])
            elif r == p and s != q:
                row.append(a[q, s])
            elif s == p:
                row.append(-a[q, r])
            else:
                row.append(jnp.zeros((), a.dtype))
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


class BifurcationPrograms:
    """Compiled continuation, Newton, Jacobian and multilinear-form programs of one model.

    Points are scaled coordinates ``z = (x / scale, p...)``: each state over its typical size,
    then each free parameter mapped from its range to [0, 1]. A context ``ctx`` (a mapping with
    ``"values"``, the other parameters; ``"scale"``, the state sizes; ``"lo"`` and ``"span"``, the
    free parameters' ranges; ``"h"``, the continuation step) is a traced argument of each program.

    Parameters
    ----------
    plane : PhasePlane
        The model's phase plane, whose traced derivative defines the vector field.
    cache : CompileCache
        Where the programs are kept, shared by every instance.
    """

    def __init__(self, plane: PhasePlane, cache: CompileCache):
        self.plane = plane
        self.spec = plane.spec
        self.states: tuple[str, ...] = tuple(self.spec.states)
        self.cache = cache

    # ------------------------------------------------------------------ traced pieces

    def _f(self, values: Mapping[str, Any], x: jax.Array) -> jax.Array:
        """Per-ms derivative of every state at one point ``x`` (shape ``(n,)``); traced."""
        d = self.plane.traced_derivative(values, {s: x[i : i + 1] for i, s in enumerate(self.states)})
        return jnp.concatenate([d[s] for s in self.states])

    def _key(self, kind: str, *rest: Any) -> tuple:
        return (self.spec.model_class, kind) + rest

    def _split(self, z: jax.Array, ctx: Mapping[str, Any], names: tuple[str, ...]) -> tuple[dict, jax.Array]:
        """Parameter values and physical state from scaled coordinates ``z = (x / scale, p...)``."""
        n = len(self.states)
        values = dict(ctx["values"])
        for i, name in enumerate(names):
            values[name] = ctx["lo"][i] + z[n + i] * ctx["span"][i]
        return values, z[:n] * ctx["scale"]

    def _scaled_jacobian(self, values: Mapping[str, Any], x: jax.Array, scale: jax.Array) -> jax.Array:
        """``D^-1 J D`` with ``D = diag(scale)``: similar to the Jacobian, of order one entries."""
        jac = jax.jacfwd(lambda y: self._f(values, y))(x)
        return jac * scale[None, :] / scale[:, None]

    def _system(self, kind: str, names: tuple[str, ...]) -> Callable:
        """``G(z, ctx)``: equilibria (``kind="eq"``), or equilibria with a vanishing fold or Hopf
        test function (``"fold"``, ``"hopf"``), in scaled coordinates."""

        def g(z, ctx):
            values, x = self._split(z, ctx, names)
            f = self._f(values, x)
            if kind == "eq":
                return f
            js = self._scaled_jacobian(values, x, ctx["scale"])
            test = jnp.linalg.det(js) if kind == "fold" else jnp.linalg.det(bialternate(js))
            return jnp.concatenate([f, test[None]])

        return g

    # ------------------------------------------------------------------ compiled programs

    def continuation(
        self, kind: str, names: tuple[str, ...], batch: int, steps: int, sig: tuple
    ) -> Callable:
        """A vmapped program following curves of ``G = 0`` from ``batch`` starts for ``steps`` steps.

        Parameters
        ----------
        kind : {"eq", "fold", "hopf"}
            The system: equilibria, or fold or Hopf points.
        names : tuple of str
            The free parameters, the last coordinates of ``z``.
        batch : int
            Starts per call.
        steps : int
            Continuation steps from each start.
        sig : tuple
            Signature of the other parameters' values (:func:`signature`).

        Returns
        -------
        Callable
            ``prog(z0, t0, ctx) -> (zs, accepted)``: starts and initial directions shaped
            ``(batch, m)`` give every step's point, ``(batch, steps, m)``, and whether it was
            accepted, ``(batch, steps)``.
        """

        def make() -> Callable:
            g = self._system(kind, names)
            k = len(names)

            def jac(z, ctx):
                return jax.jacfwd(g)(z, ctx)

            def tangent(z, t_prev, ctx):
                a = jnp.concatenate([jac(z, ctx), t_prev[None]])
                e = jnp.zeros(z.shape[0], z.dtype).at[-1].set(1.0)
                t = jnp.linalg.solve(a, e)
                return t / jnp.linalg.norm(t)

            def correct(zp, t, ctx):
                def body(_, z):
                    a = jnp.concatenate([jac(z, ctx), t[None]])
                    r = jnp.concatenate([g(z, ctx), (t @ (z - zp))[None]])
                    return z - jnp.linalg.solve(a, r)

                z = jax.lax.fori_loop(0, _ITERS - 1, body, zp)
                z2 = body(0, z)
                return z2, jnp.max(jnp.abs(z2 - z))

            def trace(z0, t0, ctx):
                h0, hmin, hmax = ctx["h"], ctx["h"] / 64, ctx["h"] * 2
                t = tangent(z0, t0, ctx)

                def step(carry, _):
                    z, t, h, alive = carry
                    zn, err = correct(z + h * t, t, ctx)
                    tn = tangent(zn, t, ctx)
                    ok = (
                        jnp.all(jnp.isfinite(zn))
                        & jnp.all(jnp.isfinite(tn))
                        & (err < 1e-3 * h + 1e-6)
                        & (jnp.linalg.norm(zn - z) < 2 * h)
                        & (tn @ t > 0.7)
                    )
                    acc = ok & alive
                    z2, t2 = jnp.where(acc, zn, z), jnp.where(acc, tn, t)
                    h2 = jnp.where(ok, jnp.minimum(h * 1.3, hmax), h * 0.5)
                    par = z2[-k:]
                    inside = jnp.all(par >= 0) & jnp.all(par <= 1) & jnp.all(jnp.abs(z2) < 1e4)
                    alive2 = alive & (h2 >= hmin) & inside
                    return (z2, t2, h2, alive2), (zn, acc)

                _, (zs, acc) = jax.lax.scan(step, (z0, t, h0, jnp.array(True)), None, length=steps)
                return zs, acc

            return jax.jit(jax.vmap(trace, in_axes=(0, 0, None)))

        return self.cache.get(self._key("continue", kind, names, batch, steps, sig), make)

    def newton(self, kind: str, names: tuple[str, ...], batch: int, iters: int, sig: tuple) -> Callable:
        """A vmapped Newton solve of ``G = 0`` with the parameters in ``names`` free only for the
        fold and Hopf systems; for equilibria the parameter is fixed per start (``z[n:]``).

        Parameters
        ----------
        kind : {"eq", "fold", "hopf"}
            The system: equilibria, or fold or Hopf points.
        names : tuple of str
            The parameters, the last coordinates of ``z``.
        batch : int
            Starts per call.
        iters : int
            Newton iterations.
        sig : tuple
            Signature of the other parameters' values (:func:`signature`).

        Returns
        -------
        Callable
            ``prog(z0, ctx) -> (z, err)``: starts shaped ``(batch, m)`` give the solutions, same
            shape, and the size of each one's last Newton step, ``(batch,)``.
        """

        def make() -> Callable:
            g = self._system(kind, names)
            n = len(self.states)

            def solve(z0, ctx):
                if kind == "eq":

                    def f(x):
                        return g(jnp.concatenate([x, z0[n:]]), ctx)

                    y0 = z0[:n]
                else:

                    def f(y):
                        return g(jnp.concatenate([y, z0[n + 1 :]]), ctx)

                    y0 = z0[: n + 1]

                def body(_, y):
                    jm = jax.jacfwd(f)(y)
                    ok = jnp.abs(jnp.linalg.det(jm)) > 1e-30
                    step = jnp.where(ok, jnp.linalg.solve(jnp.where(ok, jm, jnp.eye(y.shape[0])), f(y)), 0.0)
                    # damped: at most half the typical size of each coordinate per iteration
                    size = jnp.max(jnp.abs(step))
                    return y - step * jnp.minimum(1.0, 0.5 / jnp.maximum(size, 1e-30))

                y = jax.lax.fori_loop(0, iters, body, y0)
                last = body(0, y)
                return jnp.concatenate([last, z0[y0.shape[0] :]]), jnp.max(jnp.abs(last - y))

            return jax.jit(jax.vmap(solve, in_axes=(0, None)))

        return self.cache.get(self._key("newton", kind, names, batch, iters, sig), make)

    def jacobians(self, names: tuple[str, ...], batch: int, sig: tuple) -> Callable:
        """Physical Jacobians (1/ms) at a batch of scaled points.

        Parameters
        ----------
        names : tuple of str
            The parameters, the last coordinates of ``z``.
        batch : int
            Points per call.
        sig : tuple
            Signature of the other parameters' values (:func:`signature`).

        Returns
        -------
        Callable
            ``prog(z, ctx) -> jac``: points shaped ``(batch, m)`` give Jacobians shaped
            ``(batch, n_states, n_states)``.
        """

        def make() -> Callable:
            def one(z, ctx):
                values, x = self._split(z, ctx, names)
                return jax.jacfwd(lambda y: self._f(values, y))(x)

            return jax.jit(jax.vmap(one, in_axes=(0, None)))

        return self.cache.get(self._key("jacobian", names, batch, sig), make)

    def forms(self, sig: tuple) -> Callable:
        """Second and third directional derivatives ``B(u, v)`` and ``C(u, v, w)`` of the vector
        field at one point, each over a batch of real directions.

        Parameters
        ----------
        sig : tuple
            Signature of the parameters' values (:func:`signature`).

        Returns
        -------
        Callable
            ``prog(values, x, bu, bv, cu, cv, cw) -> (B, C)``: at the physical state ``x``, with
            parameters ``values``, ``B(bu[i], bv[i])`` and ``C(cu[i], cv[i], cw[i])`` for each row
            ``i`` of the direction arrays.
        """

        def make() -> Callable:
            def b(values, x, u1, u2):
                d1 = lambda y: jax.jvp(lambda q: self._f(values, q), (y,), (u1,))[1]  # noqa: E731
                return jax.jvp(d1, (x,), (u2,))[1]

            def c(values, x, u1, u2, u3):
                return jax.jvp(lambda y: b(values, y, u1, u2), (x,), (u3,))[1]

            return jax.jit(
                lambda values, x, bu, bv, cu, cv, cw: (
                    jax.vmap(b, in_axes=(None, None, 0, 0))(values, x, bu, bv),
                    jax.vmap(c, in_axes=(None, None, 0, 0, 0))(values, x, cu, cv, cw),
                )
            )

        return self.cache.get(self._key("forms", sig), make)
