"""Explorers for JupyterLab and Jupyter Notebook: ipywidgets controls, Bokeh plots via jupyter_bokeh.

>>> from brainmass_widgets.ipywidgets import ModelExplorer
>>> ModelExplorer("HopfStep")  # doctest: +SKIP
"""

from ._explorers import ModelExplorer, SweepExplorer

__all__ = ["ModelExplorer", "SweepExplorer"]
