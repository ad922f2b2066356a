"""Hostile files for the loaders: zip bombs, .npy headers that claim gigabytes, pickles.

Each is real (numpy and zipfile read it as it claims), built without holding its unpacked size in
memory.
"""

import functools
import io
import tracemalloc
import zipfile

import numpy as np
from numpy.lib import format as npy_format

BOMB_BYTES = 256 * 2**20
"""What :func:`zip_bomb` unpacks to, past every loader's limit (20 MiB connectome, 64 MiB others)."""


def npy_header(shape, dtype="<f8"):
    """A version 1.0 ``.npy`` header for ``shape`` of ``dtype``, as ``numpy.save`` writes it."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"shape": shape, "fortran_order": False, "descr": dtype})
    return buf.getvalue()


def claiming(shape, dtype="<f8"):
    """A ``.npy`` file whose header claims ``shape`` of ``dtype``, followed by 64 bytes of data."""
    return npy_header(shape, dtype) + bytes(64)


@functools.cache
def zip_bomb(member="weights"):
    """A ``.npz`` of ~250 KB whose one member ``member.npy`` is a (4096, 8192) float64 matrix of
    zeros that unpacks to :data:`BOMB_BYTES` (+ its header): written in chunks, so it is quick to
    make."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open(f"{member}.npy", "w", force_zip64=True) as f:
        f.write(npy_header((4096, BOMB_BYTES // 8 // 4096)))
        chunk = bytes(2**22)
        for _ in range(BOMB_BYTES // len(chunk)):
            f.write(chunk)
    return out.getvalue()


def lying_npz(shape, member="weights"):
    """A ``.npz`` whose member's header claims ``shape`` of float64 but holds 64 bytes of data."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{member}.npy", claiming(shape))
    return out.getvalue()


def pickled_npy():
    """A ``.npy`` of one Python object (a pickle inside)."""
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


def peak_bytes(action):
    """The most bytes Python and numpy held at once (beyond what was held before) while
    ``action()`` ran, and the exception it raised (``None`` if it returned)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        try:
            action()
            error = None
        except Exception as exc:
            error = exc
        return tracemalloc.get_traced_memory()[1] - before, error
    finally:
        tracemalloc.stop()
