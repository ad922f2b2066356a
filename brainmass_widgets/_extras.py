"""Optional dependencies: import one, or say in one line which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtra", "import_extra"]


class MissingExtra(ImportError):
    """A feature needs a package that only an optional extra of brainmass-widgets installs."""


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that installs it.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"distributed"``.
    extra : str
        The extra of brainmass-widgets whose install brings ``module``, e.g. ``"dask"``.
    feature : str
        What the caller was asked to do, for the message, e.g. ``"a sweep on a Dask cluster"``.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingExtra
        One line: what needs ``module`` and the ``pip install`` command that brings it.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingExtra(f"{feature} needs {module.split('.')[0]}, which is not installed: "
                           f"pip install 'brainmass-widgets[{extra}]'") from None
