"""Explorers for JupyterLab and Jupyter Notebook: ipywidgets controls, Bokeh plots via jupyter_bokeh.

>>> from brainmass_widgets.ipywidgets import ModelExplorer
>>> ModelExplorer("HopfStep")  # doctest: +SKIP
"""

from ._bifurcation import BifurcationExplorer
from ._explorers import ModelExplorer, SweepExplorer
from ._fit import FitExplorer
from ._network import NetworkExplorer
from ._phase import PhasePlaneExplorer

__all__ = ["BifurcationExplorer", "FitExplorer",
           "ModelExplorer", "NetworkExplorer", "PhasePlaneExplorer", "SweepExplorer"]
