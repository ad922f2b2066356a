"""The saved-sweep file format: declared fields only, a format version, and the version 1 layout."""

import dataclasses
import io
import json
import zipfile

import brainunit as u
import numpy as np
import pytest
from attacks import pickled_npy

import brainmass_widgets as bw

A = np.linspace(0.1, 0.9, 3)
W = np.array([0.2, 0.4])
META = ("meta:format", "meta:model", "meta:metric", "meta:monitor", "meta:unit", "meta:executor",
        "meta:settings")


def sweep(bands: bool) -> bw.SweepResult:
    """A two-parameter sweep with every field set to a value unlike its default."""
    values = np.arange(12.0).reshape(3, 2, 2)
    values[2, 1] = np.nan
    band = {"lo": np.full((3, 2), -1.5), "hi": np.full((3, 2), 2.5), "shown": values.mean(axis=2)}
    return bw.SweepResult(values=values, axes={"a": A, "w": W}, metric="amplitude", monitor="x", unit=u.mV,
                          diverged=np.array([[False, True], [False, False], [True, False]]), done=5, total=6,
                          cancelled=True, compiles=2, executor="4 CPU devices", model="HopfStep",
                          settings={"dt_ms": 0.1, "params": {"w": 0.3}, "seed": 7}, **(band if bands else {}))


def assert_same(back: bw.SweepResult, res: bw.SweepResult) -> None:
    """Every declared field of ``back`` equals that of ``res``."""
    for f in dataclasses.fields(bw.SweepResult):
        got, want = getattr(back, f.name), getattr(res, f.name)
        if f.name == "axes":
            assert list(got) == list(want)
            for name in want:
                np.testing.assert_array_equal(got[name], want[name])
        elif isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want, err_msg=f.name)
        else:
            assert got == want, f.name


def entries(file: io.BytesIO) -> dict[str, np.ndarray]:
    file.seek(0)
    with np.load(file, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("bands", [True, False])
def test_every_declared_field_survives_a_round_trip(tmp_path, bands):
    res = sweep(bands)
    res.save(tmp_path / "sweep.npz")
    back = bw.SweepResult.load(tmp_path / "sweep.npz")
    assert_same(back, res)
    assert (back.lo is None) is (not bands)


def test_save_writes_the_declared_fields_and_the_version_and_nothing_set_on_the_instance():
    res = sweep(bands=True)
    res.note = np.arange(4.0)
    buf = io.BytesIO()
    res.save(buf)
    data = entries(buf)
    assert set(data) == {"format_version", "values", "diverged", "axis:a", "axis:w", "band:lo", "band:hi",
                         "band:shown", "counts", *META}
    assert int(data["format_version"]) == bw.SweepResult.FORMAT_VERSION == 2
    assert str(data["meta:format"]) == "brainmass-widgets sweep"
    assert not hasattr(bw.SweepResult.load(buf.getvalue()), "note")
    plain = io.BytesIO()
    sweep(bands=False).save(plain)
    assert not {"band:lo", "band:hi", "band:shown"} & set(entries(plain))


def version_1_file(res: bw.SweepResult, extras: dict[str, np.ndarray]) -> io.BytesIO:
    """``res`` written as version 1 did (no format_version; array attributes as ``extra:<name>``)."""
    buf = io.BytesIO()
    arrays = {"values": res.values, "diverged": res.diverged}
    arrays.update({f"axis:{k}": v for k, v in res.axes.items()})
    arrays.update({f"extra:{k}": v for k, v in extras.items()})
    meta = {"format": "brainmass-widgets sweep 1", "model": res.model, "metric": res.metric,
            "monitor": res.monitor, "unit": "" if res.unit is None else str(res.unit),
            "executor": res.executor, "settings": json.dumps(res.settings)}
    np.savez_compressed(buf, **arrays, **{f"meta:{k}": np.asarray(v) for k, v in meta.items()},
                        counts=np.array([res.done, res.total, res.cancelled, res.compiles]))
    buf.seek(0)
    return buf


@pytest.mark.parametrize("bands", [True, False])
def test_a_version_1_file_loads_with_the_same_values(bands):
    res = sweep(bands)
    extras = {k: getattr(res, k) for k in ("lo", "hi", "shown")} if bands else {}
    back = bw.SweepResult.load(version_1_file(res, extras))
    assert_same(back, res)


def rewritten(res: bw.SweepResult, **changes: np.ndarray) -> bytes:
    """``res`` saved, with the entries ``changes`` replaced."""
    buf = io.BytesIO()
    res.save(buf)
    out = io.BytesIO()
    np.savez_compressed(out, **{**entries(buf), **changes})
    return out.getvalue()


def test_a_file_of_a_newer_format_version_is_refused_naming_both_versions():
    newer = rewritten(sweep(bands=True), format_version=np.asarray(3))
    with pytest.raises(ValueError, match=r"^the file is a saved sweep of format version 3; this version of "
                                         r"brainmass-widgets reads format versions 1 to 2: upgrade"):
        bw.SweepResult.load(newer)


@pytest.mark.parametrize("version", [np.asarray(0), np.asarray("2"), np.asarray([2])])
def test_a_format_version_that_is_not_a_known_integer_is_not_a_saved_sweep(version):
    with pytest.raises(ValueError, match="not a saved sweep"):
        bw.SweepResult.load(rewritten(sweep(bands=False), format_version=version))


def test_a_version_2_file_keeps_the_size_and_pickle_checks():
    buf = io.BytesIO()
    sweep(bands=True).save(buf)
    with pytest.raises(ValueError, match=r"has [\d,]+ bytes; at most 1,000 are accepted"):
        bw.SweepResult.load(buf.getvalue(), max_bytes=1_000)
    buf.seek(0)
    with pytest.raises(ValueError, match=r"not a saved sweep .*: the file: its \d+ members unpack to "
                                         r"[\d,]+ bytes; at most 1,000 are allowed"):
        bw.SweepResult.load(buf, max_bytes=1_000)
    evil = io.BytesIO(buf.getvalue())
    with zipfile.ZipFile(evil, "a") as zf:
        zf.writestr("band:note.npy", pickled_npy())
    with pytest.raises(ValueError, match="holds Python objects"):
        bw.SweepResult.load(evil.getvalue())
