"""brainmass-widgets: explore brainmass neural-mass models by hand.

The engine answers a parameter change without recompiling (:class:`CachedSimulator`), streams a
long run in pieces, and sweeps parameter grids in one compiled vmap program. The catalogue
(:func:`catalog`, :func:`model_spec`) describes every supported model for sliders.
"""

from ._catalog import ModelSpec, ParamSpec, catalog, model_spec
from ._engine import CachedSimulator, CompileCache, SimResult, SweepResult
from ._metrics import METRICS

__all__ = [
    "METRICS",
    "CachedSimulator",
    "CompileCache",
    "ModelSpec",
    "ParamSpec",
    "SimResult",
    "SweepResult",
    "catalog",
    "model_spec",
]
__version__ = "0.1.0"
