"""Reading .npz/.npy files: what numpy reads, or a refusal from the headers before any data."""

import io
import struct
import zipfile

import numpy as np
import pytest
from attacks import BOMB_BYTES, claiming, lying_npz, npy_header, peak_bytes, pickled_npy, zip_bomb
from numpy.lib import format as npy_format

from brainmass_widgets._files import MAX_HEADER_BYTES, MAX_MEMBERS, read_csv, read_npy, read_npz

MiB = 2**20
ARRAYS = {
    "floats": np.random.default_rng(0).normal(size=(5, 7)),
    "fortran": np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
    "big_endian": np.arange(6, dtype=">f4"),
    "scalar": np.float64(2.5),
    "empty": np.zeros((0, 3)),
    "flags": np.array([True, False, True]),
    "labels": np.array(["left", "right"]),
    "complex": np.array([1 + 2j, 3 - 1j]),
    "record": np.zeros(3, dtype=[("x", "<f8"), ("n", "<i4")]),
}


def _npy(array, version=None):
    buf = io.BytesIO()
    npy_format.write_array(buf, np.asanyarray(array), version=version)
    return buf.getvalue()


@pytest.mark.parametrize("key", ARRAYS)
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_arrays_read_back_as_numpy_reads_them(key, version):
    data = _npy(ARRAYS[key], version)
    got = read_npy(data, name="a.npy", max_bytes=MiB)
    want = np.load(io.BytesIO(data))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert got.flags.writeable


def test_npz_members_from_bytes_a_path_and_a_file_equal_numpy(tmp_path):
    path = tmp_path / "all.npz"
    np.savez_compressed(path, **ARRAYS)
    want = np.load(path)
    with open(path, "rb") as f:
        for source in (path.read_bytes(), path, str(path), f):
            got = read_npz(source, name="all.npz", max_bytes=MiB)
            assert list(got) == list(ARRAYS)
            for key in ARRAYS:
                assert got[key].dtype == want[key].dtype
                np.testing.assert_array_equal(got[key], want[key])
    np.save(tmp_path / "one.npy", ARRAYS["fortran"])
    np.testing.assert_array_equal(read_npy(tmp_path / "one.npy", name="one.npy", max_bytes=MiB),
                                  ARRAYS["fortran"])


def test_a_zip_bomb_is_refused_from_the_zip_directory_without_unpacking():
    bomb = zip_bomb()
    assert len(bomb) < MiB
    peak, error = peak_bytes(lambda: read_npz(bomb, name="connectome.npz", max_bytes=20 * MiB))
    assert isinstance(error, ValueError)
    assert str(error) == (f"connectome.npz: member 'weights.npy' unpacks to {BOMB_BYTES + 128:,} bytes; "
                          "at most 20,971,520 are allowed")
    assert peak < 5 * MiB


@pytest.mark.parametrize("shape, claimed", [((100_000, 100_000), "80,000,000,000"),
                                            ((31_623, 31_623), "8,000,113,032")])
@pytest.mark.parametrize("read, make, name", [(read_npy, claiming, "c.npy"),
                                              (read_npz, lying_npz, "c.npz: member 'weights.npy'")])
def test_npy_headers_claiming_gigabytes_are_refused_before_any_data(shape, claimed, read, make, name):
    source = make(shape)
    peak, error = peak_bytes(lambda: read(source, name=name.split(":")[0], max_bytes=20 * MiB))
    assert isinstance(error, ValueError), error
    assert str(error) == (f"{name}: shape {shape} of float64 is {claimed} bytes; at most 20,971,520 "
                          "are allowed")
    assert peak < 5 * MiB


def test_a_header_claiming_more_data_than_the_file_holds_is_refused():
    with pytest.raises(ValueError, match=r"^w.npz: member 'weights.npy': the header claims shape "
                                         r"\(100, 100\) of float64 \(80,000 bytes\) but the file holds 64 "
                                         r"bytes of data$"):
        read_npz(lying_npz((100, 100)), name="w.npz", max_bytes=MiB)
    with pytest.raises(ValueError, match=r"claims shape \(3, 3\) of float64 \(72 bytes\) but the file "
                                         "holds 64"):
        read_npy(claiming((3, 3)), name="w.npy", max_bytes=MiB)


def test_members_are_bounded_together_and_in_number():
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(100), b=np.zeros(100))
    assert len(read_npz(buf.getvalue(), name="two.npz", max_bytes=2000)) == 2
    with pytest.raises(ValueError, match=r"^two.npz: its 2 members unpack to 1,856 bytes; at most 1,000 are"):
        read_npz(buf.getvalue(), name="two.npz", max_bytes=1000)
    many = io.BytesIO()
    np.savez(many, **{f"m{i}": np.zeros(1) for i in range(MAX_MEMBERS + 1)})
    with pytest.raises(ValueError, match=f"many.npz has {MAX_MEMBERS + 1} members; at most {MAX_MEMBERS}"):
        read_npz(many.getvalue(), name="many.npz", max_bytes=MiB)


def test_pickles_junk_and_bad_headers_are_refused_for_what_they_are():
    with pytest.raises(ValueError, match=r"^p.npy holds Python objects \(dtype object\), which would be "
                                         "unpickled"):
        read_npy(pickled_npy(), name="p.npy", max_bytes=MiB)
    pickled = io.BytesIO()
    np.savez(pickled, values=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="p.npz: member 'values.npy' holds Python objects"):
        read_npz(pickled.getvalue(), name="p.npz", max_bytes=MiB)
    with pytest.raises(ValueError, match="j.npy is not a .npy array"):
        read_npy(b"junk", name="j.npy", max_bytes=MiB)
    with pytest.raises(ValueError, match="j.npz is not a .npz"):
        read_npz(b"junk", name="j.npz", max_bytes=MiB)
    bad_dict = npy_format.MAGIC_PREFIX + b"\x01\x00" + struct.pack("<H", 16) + b"{'shape': 3}   \n"
    with pytest.raises(ValueError, match="b.npy: unreadable .npy header"):
        read_npy(bad_dict + bytes(64), name="b.npy", max_bytes=MiB)
    huge_header = npy_format.MAGIC_PREFIX + b"\x02\x00" + struct.pack("<I", 2**31) + b"{"
    peak, error = peak_bytes(lambda: read_npy(huge_header, name="h.npy", max_bytes=MiB))
    assert str(error) == (f"h.npy: the .npy header claims 2,147,483,648 bytes; at most {MAX_HEADER_BYTES:,} "
                          "are read")
    assert peak < MiB
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="o.npz: member 'notes.txt' is not a .npy array"):
        read_npz(other.getvalue(), name="o.npz", max_bytes=MiB)
    v3 = npy_format.MAGIC_PREFIX + b"\x03\x00" + npy_header((2,))[8:]
    with pytest.raises(ValueError, match="v.npy: .npy format version 3.0 is not supported"):
        read_npy(v3, name="v.npy", max_bytes=MiB)


def test_a_large_npy_file_is_refused_by_its_size():
    data = _npy(np.zeros(2 * MiB // 8))
    with pytest.raises(ValueError, match=f"^big.npy: the file has {len(data):,} bytes"):
        read_npy(data, name="big.npy", max_bytes=MiB)


@pytest.mark.parametrize("text, header, values", [
    (b"1,2\n3,4\n", None, [[1, 2], [3, 4]]),
    (b"\n a , b\r\n\n1, 2\r\n\"3\",4.5e1\n\n", ["a", "b"], [[1, 2], [3, 45]]),
    (b"x\n0.5\n-1\nnan\n", ["x"], [[0.5], [-1], [np.nan]]),
    (b"", None, np.zeros((0, 1))),
])
def test_csv_gives_the_header_and_the_numbers(text, header, values, tmp_path):
    (tmp_path / "w.csv").write_bytes(text)
    for source in (text, tmp_path / "w.csv"):
        got_header, got = read_csv(source, name="w.csv", max_bytes=MiB)
        assert got_header == header and got.dtype == np.float64
        np.testing.assert_array_equal(got, np.asarray(values, dtype=np.float64))


def test_csv_is_read_up_to_its_limit_and_parsed_without_a_python_object_per_cell(tmp_path):
    with pytest.raises(ValueError, match="w.csv: the file has more than 7 bytes; at most 7 are allowed"):
        read_csv(b"1,2\n3,4\n", name="w.csv", max_bytes=7)
    path = tmp_path / "big.csv"
    path.write_bytes(b"0," * MiB)
    peak, error = peak_bytes(lambda: read_csv(path, name="big.csv", max_bytes=MiB // 4))
    assert "big.csv: the file has more than 262,144 bytes" in str(error)
    assert peak < MiB
    cells = b"\n".join([b",".join([b"0.123456"] * 100)] * 2000)
    peak, error = peak_bytes(lambda: read_csv(cells, name="cells.csv", max_bytes=2 * MiB))
    assert error is None and len(cells) > MiB
    assert peak < 5 * 2000 * 100 * 8
    with pytest.raises(ValueError, match=r"u.csv is not UTF-8 text"):
        read_csv(b"\xff\xfe,1\n", name="u.csv", max_bytes=10)
    with pytest.raises(ValueError, match=r"u.csv is not UTF-8 text"):
        read_csv(b"1,2\n\xff,3\n", name="u.csv", max_bytes=10)
    with pytest.raises(ValueError, match=r"r.csv: every row after the header must hold numbers only "
                                         r"\(the number of columns changed"):
        read_csv(b"a,b\n1,2\n3\n", name="r.csv", max_bytes=100)
    with pytest.raises(ValueError, match=r"x.csv: every row after the header must hold numbers only "
                                         r"\(could not"):
        read_csv(b"a,b\n1,x\n", name="x.csv", max_bytes=100)
