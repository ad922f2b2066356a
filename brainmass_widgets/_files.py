"""Reading uploaded and saved files without letting them explode.

A ``.npz`` is a zip archive: a 2 MB upload can unpack to gigabytes, and a ``.npy`` header can claim
any shape. :func:`read_npz` and :func:`read_npy` check what a file claims before reading a byte of
its data: every zip member's uncompressed size (from the zip directory), then every array's shape
and dtype (from its ``.npy`` header alone) against a limit in bytes, and that the header claims no
more data than the file holds. Pickled objects are refused. :func:`read_csv` reads a ``.csv`` up to
its limit and parses it with numpy's reader. Every refusal is a ``ValueError`` that names the file
(and member), what it claims and the limit.
"""

from __future__ import annotations

import csv
import io
import math
import os
import struct
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["MAX_HEADER_BYTES", "MAX_MEMBERS", "read_csv", "read_npy", "read_npz"]

MAX_HEADER_BYTES = 10_000
"""The longest ``.npy`` header read (numpy's own safe limit); real headers take ~100 bytes."""

MAX_MEMBERS = 256
"""The most members a ``.npz`` may hold."""


def _open(source: Any) -> tuple[IO[bytes], int, bool]:
    """A binary handle on ``source``, its size in bytes and whether the caller must close it."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source), len(source), True
    if isinstance(source, str | os.PathLike):
        handle = open(Path(source), "rb")
        return handle, os.fstat(handle.fileno()).st_size, True
    start = source.tell()
    size = source.seek(0, io.SEEK_END) - start
    source.seek(start)
    return source, size, False


def _refuse_size(name: str, what: str, claimed: int, max_bytes: int) -> None:
    if claimed > max_bytes:
        raise ValueError(f"{name}: {what} {claimed:,} bytes; at most {max_bytes:,} are allowed")


def _read_array(fp: IO[bytes], available: int, name: str, max_bytes: int) -> np.ndarray:
    """The array in the ``.npy`` stream ``fp`` (``available`` bytes long), checked by its header."""
    try:
        major, minor = npy_format.read_magic(fp)
    except ValueError:
        raise ValueError(f"{name} is not a .npy array (no NumPy magic string)") from None
    if (major, minor) not in ((1, 0), (2, 0)):
        raise ValueError(f"{name}: .npy format version {major}.{minor} is not supported (1.0 or 2.0 are)")
    length_format = "<H" if major == 1 else "<I"
    length_bytes = fp.read(struct.calcsize(length_format))
    if len(length_bytes) != struct.calcsize(length_format):
        raise ValueError(f"{name}: the .npy header is cut short")
    (length,) = struct.unpack(length_format, length_bytes)
    if length > MAX_HEADER_BYTES:
        raise ValueError(f"{name}: the .npy header claims {length:,} bytes; at most {MAX_HEADER_BYTES:,} "
                         "are read")
    header = length_bytes + fp.read(length)
    reader = npy_format.read_array_header_1_0 if major == 1 else npy_format.read_array_header_2_0
    try:
        shape, fortran_order, dtype = reader(io.BytesIO(header))
    except ValueError as exc:
        raise ValueError(f"{name}: unreadable .npy header ({exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects (dtype {dtype}), which would be unpickled; "
                         "only numbers and text are read")
    if any(n < 0 for n in shape):
        raise ValueError(f"{name}: the .npy header claims a negative shape {shape}")
    count = math.prod(shape)
    _refuse_size(name, f"shape {shape} of {dtype} is", count * max(dtype.itemsize, 1), max_bytes)
    nbytes = count * dtype.itemsize
    left = available - npy_format.MAGIC_LEN - len(header)
    if nbytes > left:
        raise ValueError(f"{name}: the header claims shape {shape} of {dtype} ({nbytes:,} bytes) but the "
                         f"file holds {max(left, 0):,} bytes of data")
    data = bytearray(nbytes)
    if fp.readinto(data) != nbytes:
        raise ValueError(f"{name}: the data is cut short")
    if dtype.itemsize == 0:
        return np.empty(shape, dtype)
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")


def read_npy(source: Any, *, name: str, max_bytes: int) -> np.ndarray:
    """The array in a ``.npy`` file, refused from its header alone when too large.

    Parameters
    ----------
    source : bytes, str, path-like or binary file object
        The file's bytes, its path, or an open seekable file (read from its position).
    name : str
        What messages call the file.
    max_bytes : int
        The most bytes the array may take (shape x item size) and the most the file may hold.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        When the file is larger than ``max_bytes``, its header is unreadable, claims more than
        ``max_bytes`` or more data than the file holds, or declares Python objects (a pickle).
    """
    fp, size, owned = _open(source)
    try:
        _refuse_size(name, "the file has", size, max_bytes + MAX_HEADER_BYTES)
        return _read_array(fp, size, name, max_bytes)
    finally:
        if owned:
            fp.close()


def read_npz(source: Any, *, name: str, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays in a ``.npz`` file, refused from the zip directory and the ``.npy`` headers
    alone when they would unpack to too many bytes.

    Parameters
    ----------
    source : bytes, str, path-like or binary file object
        The file's bytes, its path, or an open seekable file.
    name : str
        What messages call the file.
    max_bytes : int
        The most bytes all members together may unpack to.

    Returns
    -------
    dict of str to numpy.ndarray
        By array name, in the archive's order.

    Raises
    ------
    ValueError
        When the file is not a zip archive, has more than :data:`MAX_MEMBERS` members, a member
        that is not a ``.npy`` array, members that unpack to more than ``max_bytes``, or an array
        that :func:`read_npy` refuses.
    """
    fp, _size, owned = _open(source)
    try:
        try:
            archive = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{name} is not a .npz (zip) file: {exc}") from None
        with archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ValueError(f"{name} has {len(infos):,} members; at most {MAX_MEMBERS} are allowed")
            total = 0
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{name}: member {info.filename!r} is not a .npy array")
                _refuse_size(name, f"member {info.filename!r} unpacks to", info.file_size, max_bytes)
                total += info.file_size
                _refuse_size(name, f"its {len(infos)} members unpack to", total, max_bytes)
            out = {}
            for info in infos:
                try:
                    with archive.open(info) as member:
                        out[info.filename[:-4]] = _read_array(member, info.file_size,
                                                              f"{name}: member {info.filename!r}", max_bytes)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                    raise ValueError(f"{name}: member {info.filename!r} could not be unpacked: "
                                     f"{exc}") from None
            return out
    finally:
        if owned:
            fp.close()


def _read_bounded(source: Any, name: str, max_bytes: int) -> bytes:
    """The bytes of ``source`` (bytes or a path), reading at most ``max_bytes + 1``."""
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source[:max_bytes + 1])
    else:
        with open(Path(source), "rb") as f:
            raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValueError(f"{name}: the file has more than {max_bytes:,} bytes; at most {max_bytes:,} are "
                         "allowed")
    return raw


def _numbers(fields: list[str]) -> bool:
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return True


def read_csv(source: Any, *, name: str, max_bytes: int) -> tuple[list[str] | None, np.ndarray]:
    """The header and the numbers of a comma-separated UTF-8 file, reading at most
    ``max_bytes + 1`` bytes and parsing them with numpy's reader (it holds about the numbers,
    not a Python object per cell).

    Parameters
    ----------
    source : bytes, str or path-like
        The file's bytes or its path.
    name : str
        What messages call the file.
    max_bytes : int
        The most bytes the file may hold.

    Returns
    -------
    header : list of str or None
        The first non-empty row's fields (stripped) when they are not all numbers, else ``None``.
    values : numpy.ndarray
        The other rows as float64, ``(rows, columns)``; empty lines are skipped.

    Raises
    ------
    ValueError
        When the file holds more than ``max_bytes`` bytes, is not UTF-8 text, or a row after the
        header holds something other than numbers or a different number of them.
    """
    raw = _read_bounded(source, name, max_bytes)
    header, skip, start = None, 0, 0
    while start < len(raw):
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end + 1
        if raw[start:end].strip():
            try:
                fields = next(csv.reader([raw[start:end].decode("utf-8")]))
            except UnicodeDecodeError as exc:
                raise ValueError(f"{name} is not UTF-8 text: {exc}") from None
            if not _numbers(fields):
                header, skip = [f.strip() for f in fields], raw.count(b"\n", 0, end)
            break
        start = end
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
        try:
            values = np.loadtxt(io.BytesIO(raw), dtype=np.float64, delimiter=",", comments=None,
                                quotechar='"', skiprows=skip, ndmin=2, encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name} is not UTF-8 text: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{name}: every row after the header must hold numbers only ({exc})") from None
    return header, values
