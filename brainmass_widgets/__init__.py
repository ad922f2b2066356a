"""brainmass-widgets: explore brainmass neural-mass models by hand.

The engine answers a parameter change without recompiling (:class:`CachedSimulator`), streams a
long run in pieces, and sweeps parameter grids in one compiled vmap program. The catalogue
(:func:`catalog`, :func:`model_spec`) describes every supported model for sliders.
:class:`PhasePlane` gives a model's vector field, nullclines and fixed points. The controllers
(:class:`ModelController`, :class:`SweepController`, :class:`PhasePlaneController`) hold an
explorer's state and feed Bokeh sources; the front ends are :mod:`brainmass_widgets.ipywidgets`
and :mod:`brainmass_widgets.panel`.
"""

from ._catalog import ModelSpec, ParamSpec, catalog, model_spec
from ._controller import ModelController, Status, SweepController, shared_cache
from ._engine import CachedSimulator, CompileCache, SimResult, SweepResult, compile_notice
from ._metrics import METRICS
from ._phase import FixedPoint, PhaseField, PhasePlane, planar_models
from ._phase_controller import PhasePlaneController

__all__ = [
    "METRICS",
    "CachedSimulator",
    "CompileCache",
    "FixedPoint",
    "ModelController",
    "ModelSpec",
    "ParamSpec",
    "PhaseField",
    "PhasePlane",
    "PhasePlaneController",
    "SimResult",
    "Status",
    "SweepController",
    "SweepResult",
    "catalog",
    "compile_notice",
    "model_spec",
    "planar_models",
    "shared_cache",
]
__version__ = "0.1.0"
