"""Print constraints.txt anew: the installed version of every package ``brainmass-widgets[test]``
needs, found by walking the installed distributions' requirements (run after
``pip install -e ".[test]"``; ``python .ci/constraints.py > constraints.txt``)."""

from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: Left to the build backend's own requirements.
BUILD_TOOLS = {"pip", "setuptools", "wheel"}


def closure(name: str, extras: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """``{canonical name: (name, version)}`` of ``name`` with ``extras`` and all it requires."""
    found: dict[str, tuple[str, str]] = {}
    done: set[tuple[str, str]] = set()
    todo = [(name, extra) for extra in ("", *extras)]
    while todo:
        dist_name, extra = todo.pop()
        key = canonicalize_name(dist_name)
        if (key, extra) in done:
            continue
        done.add((key, extra))
        try:
            dist = distribution(dist_name)
        except PackageNotFoundError:
            continue
        found[key] = (dist.metadata["Name"], dist.version)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo.extend((req.name, e) for e in ("", *req.extras))
    return found


if __name__ == "__main__":
    pins = closure("brainmass-widgets", ("test",))
    print("# Exact versions CI and the README's commands install with (pip install -c constraints.txt).")
    print("# The package's own ranges are in pyproject.toml. Made by .ci/constraints.py.")
    for key in sorted(pins):
        if key not in BUILD_TOOLS and key != "brainmass-widgets":
            print("{}=={}".format(*pins[key]))
