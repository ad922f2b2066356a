"""brainmass-widgets: explore brainmass neural-mass models by hand.

The engine answers a parameter change without recompiling (:class:`CachedSimulator`), streams a
long run in pieces, and sweeps parameter grids in one compiled vmap program. The catalogue
(:func:`catalog`, :func:`model_spec`) describes every supported model for sliders.
:class:`NetworkModel` couples a node model through a connectome (``brainmass.Network``).
:class:`PhasePlane` gives a model's vector field, nullclines and fixed points;
:class:`Bifurcation` its equilibrium branches, fold and Hopf points and limit cycles against a
parameter. The controllers
(:class:`ModelController`, :class:`SweepController`, :class:`PhasePlaneController`, ...) share
one template: a change is validated into a frozen state (:class:`ModelState`, ...), applied, and
run; they feed Bokeh sources; each explorer's controls are described once as a
:class:`Form` of :class:`Control` objects, which both front ends,
:mod:`brainmass_widgets.ipywidgets` and :mod:`brainmass_widgets.panel`, render through a
:class:`Binding`. A shared server sets :class:`Limits` (:func:`set_limits`); every explorer
computes through one fair :class:`ComputePool`, and a :class:`Session` bounds what one visitor
runs at once. :class:`CachedFitter` fits parameters to data through one compiled
gradient step; :class:`FitController` shows a fit live.
"""

from importlib.metadata import version as _distribution_version

from ._adapters import ModelAdapter
from ._bifurcation import Bifurcation, BifurcationDiagram, Branch, Curve, Regions, SpecialPoint
from ._bifurcation_controller import BifurcationController, BifurcationState
from ._catalog import ModelSpec, ParamSpec, catalog, model_spec
from ._compile import CompileCache, compile_notice
from ._controller import Session, Status, shared_cache
from ._controls import (
    CONTROL_KINDS,
    BifurcationForm,
    Binding,
    Control,
    FitForm,
    Form,
    ModelForm,
    NetworkForm,
    PhaseForm,
    SweepForm,
    form_for,
)
from ._engine import CachedSimulator
from ._export import export_page
from ._extras import MissingExtra
from ._fit import BACKENDS, LOOPS, METHODS, OBJECTIVES, OPTIMIZERS, CachedFitter, FitOutcome, load_target
from ._fit_controller import TARGETS, FitController, FitState
from ._limits import ComputePool, Limits, compute_pool, limits, set_limits
from ._metrics import METRICS
from ._model_controller import ModelController, ModelState
from ._network import Connectome, NetworkModel, load_connectome, network_models
from ._network_controller import NetworkController, NetworkState
from ._phase import FixedPoint, PhaseField, PhasePlane, planar_models
from ._phase_controller import PhasePlaneController, PhaseState
from ._request import RunSpec
from ._results import SimResult, SweepResult
from ._sweep_controller import SweepController, SweepState

__all__ = [
    "BACKENDS",
    "CONTROL_KINDS",
    "Bifurcation",
    "BifurcationController",
    "BifurcationState",
    "BifurcationDiagram",
    "BifurcationForm",
    "Binding",
    "Branch",
    "LOOPS",
    "METHODS",
    "METRICS",
    "OBJECTIVES",
    "OPTIMIZERS",
    "TARGETS",
    "CachedFitter",
    "CachedSimulator",
    "CompileCache",
    "ComputePool",
    "Connectome",
    "Control",
    "Curve",
    "FitController",
    "FitState",
    "FitForm",
    "FitOutcome",
    "FixedPoint",
    "Form",
    "Limits",
    "MissingExtra",
    "ModelAdapter",
    "ModelController",
    "ModelState",
    "ModelForm",
    "ModelSpec",
    "NetworkController",
    "NetworkState",
    "NetworkForm",
    "NetworkModel",
    "ParamSpec",
    "PhaseField",
    "PhaseForm",
    "PhasePlane",
    "PhasePlaneController",
    "PhaseState",
    "Regions",
    "RunSpec",
    "Session",
    "SimResult",
    "SpecialPoint",
    "Status",
    "SweepController",
    "SweepState",
    "SweepForm",
    "SweepResult",
    "catalog",
    "compile_notice",
    "compute_pool",
    "export_page",
    "form_for",
    "limits",
    "load_connectome",
    "load_target",
    "model_spec",
    "network_models",
    "planar_models",
    "set_limits",
    "shared_cache",
]
__version__: str = _distribution_version("brainmass-widgets")
