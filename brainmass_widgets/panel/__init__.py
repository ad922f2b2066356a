"""Explorers as Panel components (inline in a notebook after ``pn.extension()``, or served).

>>> from brainmass_widgets.panel import ModelExplorer
>>> ModelExplorer("HopfStep").servable()  # doctest: +SKIP

The served app is :func:`create_app` (``brainmass-widgets serve``).
"""

from ._bifurcation import BifurcationExplorer
from ._explorers import ModelExplorer, SweepExplorer
from ._fit import FitExplorer
from ._network import NetworkExplorer
from ._phase import PhasePlaneExplorer
from .app import create_app

__all__ = ["BifurcationExplorer", "FitExplorer",
           "ModelExplorer", "NetworkExplorer", "PhasePlaneExplorer", "SweepExplorer",
           "create_app"]
