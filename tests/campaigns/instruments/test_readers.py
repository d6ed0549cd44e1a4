"""Reading instrument files: text in every common dialect, vendor formats, bad files named."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from campaigns.instruments.readers import InstrumentFileError, read_spectrum, zip_members
from campaigns.instruments.synthetic import raman_curve, wdf, xrd_curve, xrdml
from campaigns.limits import Limits

DATA = Path(__file__).resolve().parents[2] / "data" / "instruments"
X = np.round(np.linspace(10.0, 60.0, 30), 3)
Y = np.round(100 + 50 * np.sin(X / 7), 2)


def _lines(sep: str, *, decimal_comma: bool = False) -> list[str]:
    def fmt(v: float) -> str:
        text = f"{v:.3f}"
        return text.replace(".", ",") if decimal_comma else text

    return [f"{fmt(a)}{sep}{fmt(b)}" for a, b in zip(X, Y, strict=True)]


@pytest.mark.parametrize(("text", "what"), [
    ("\n".join(_lines(" ")), "space"),
    ("\n".join(_lines("\t")), "tab"),
    ("2theta,intensity\n" + "\n".join(_lines(",")), "comma with header"),
    ("x;y\n" + "\n".join(_lines(";", decimal_comma=True)), "semicolon, decimal comma"),
    ("\n".join(_lines("   ", decimal_comma=True)), "spaces, decimal comma"),
    ("# exported by EVA\n; sample HC-12\n'Id: x\n\n" + "\n".join(_lines("  ")) + "\n",
     "comment lines"),
    ("Pos. [°2Th.]\tIobs [cts]\n" + "\n".join(_lines("\t")[::-1]), "header, descending"),
    ("\n".join(f"{line} 0.5 7" for line in _lines(" ")), "extra columns"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_two_column_text_in_common_dialects(text: str, what: str) -> None:
    for encoding in ("utf-8", "utf-16"):
        s = read_spectrum(text.encode(encoding), name="A1.xy")
        np.testing.assert_allclose(s.x, X)
        np.testing.assert_allclose(s.y, Y)
        assert s.format == "text" and s.kind is None
    if "descending" in what:
        assert any("sorted" in n for n in s.notes)
    if "extra" in what:
        assert any("first two" in n for n in s.notes)


@pytest.mark.parametrize(("data", "row", "column", "value", "words"), [
    (b"2theta intensity\n10 5\n11 abc\n" + b"12 1\n" * 30, 3, "intensity", "abc", "not a"),
    (b"10 5\n11 nan\n" + b"12 1\n" * 30, 2, "2", "nan", "not a"),
    (b"10 5\n" * 30 + b"11\n12 3\n", 31, None, "11", "two numbers"),
    (b"10 5\n" * 30 + b"11", 31, None, "11", "cut off"),
], ids=["text cell", "nan", "one value", "cut off"])
def test_a_bad_line_is_named(data: bytes, row: int, column: str | None, value: str,
                             words: str) -> None:
    with pytest.raises(InstrumentFileError) as err:
        read_spectrum(data, name="B2.xy")
    (p,) = err.value.problems
    assert (p.row, p.column, p.value) == (row, column, value)
    assert "B2.xy" in p.message and words in p.message and p.hint


@pytest.mark.parametrize(("data", "words"), [
    (b"", "empty"),
    (b"\x00\x01\x02binary\x00" * 50, "neither a text table"),
    (b"# only a header\nx y\n", "no data lines"),
    (b"1 2\n2 3\n3 4\n", "3 data point(s)"),
    (b"5 1\n" * 40, "same position"),
], ids=["empty", "binary", "no data", "too few", "one position"])
def test_unreadable_files_are_refused_with_a_hint(data: bytes, words: str) -> None:
    with pytest.raises(InstrumentFileError) as err:
        read_spectrum(data, name="C3.txt")
    assert words in str(err.value) and err.value.hint


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    with pytest.raises(InstrumentFileError, match="big.xy: the file is 4,000 bytes") as err:
        read_spectrum(b"1 2\n" * 1000, name="big.xy", limits=Limits(max_upload_bytes=100))
    assert "PLANNER_MAX_UPLOAD_MB" in (err.value.hint or "")


def test_xrdml_through_the_vendor_reader_keeps_the_wavelength() -> None:
    x, y = xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, wavelength_nm=0.17890, noise=0.0)
    s = read_spectrum(xrdml(x, y, wavelength_nm=0.17890), name="A1.xrdml")
    assert (s.format, s.kind) == ("xrdml", "xrd")
    assert s.wavelength_nm == pytest.approx(0.17890)
    np.testing.assert_allclose(s.x, x, atol=1e-3)
    np.testing.assert_allclose(s.y, np.maximum(y, 0).round(), atol=0.5)


def test_shipped_xrdml_with_unitless_ratio_is_read() -> None:
    """PANalytical writes unit="None" on the Kα2/Kα1 ratio; the scan is still read."""
    s = read_spectrum((DATA / "synthetic_hard_carbon.xrdml").read_bytes(),
                      name="synthetic_hard_carbon.xrdml")
    assert s.kind == "xrd" and s.x.size == 2501 and s.wavelength_nm == pytest.approx(0.15406)


def test_damaged_xrdml_is_refused() -> None:
    x, y = xrd_curve(d002_nm=0.38, lc_nm=1.2, la_nm=4.0)
    data = xrdml(x, y)
    with pytest.raises(InstrumentFileError, match="cannot be read"):
        read_spectrum(data[: len(data) // 2], name="A1.xrdml")


def test_renishaw_wdf_through_the_vendor_reader() -> None:
    x, y = raman_curve(id_ig=1.1)
    s = read_spectrum(wdf(x, y, laser_nm=532.0), name="A1.wdf")
    assert (s.format, s.kind) == ("wdf", "raman")
    assert s.laser_nm == pytest.approx(532.0, rel=1e-5)
    np.testing.assert_allclose(s.y, y.astype(np.float32), rtol=1e-6)


def test_damaged_wdf_is_refused_not_looped_over() -> None:
    x, y = raman_curve(id_ig=1.1)
    data = bytearray(wdf(x, y))
    struct.pack_into("<Q", data, 512 + 8, 0)  # the DATA block claims zero bytes
    with pytest.raises(InstrumentFileError, match="damaged or cut off"):
        read_spectrum(bytes(data), name="A1.wdf")
    with pytest.raises(InstrumentFileError, match="damaged or cut off"):
        read_spectrum(wdf(x, y)[:-10], name="A1.wdf")


def test_zip_members_skip_folders_and_hidden_files_and_refuse_twins() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("plate/A1.xy", b"1 2\n")
        zf.writestr("plate/.DS_Store", b"junk")
        zf.writestr("__MACOSX/plate/._A1.xy", b"junk")
        zf.writestr("B2_raman.txt", b"3 4\n")
    assert sorted(zip_members(buf.getvalue(), name="f.zip")) == ["A1.xy", "B2_raman.txt"]
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("other/A1.xy", b"5 6\n")
    with pytest.raises(InstrumentFileError, match="two files are named 'A1.xy'"):
        zip_members(buf.getvalue(), name="f.zip")
    with pytest.raises(InstrumentFileError, match="cannot be opened"):
        zip_members(b"PK\x03\x04 not really", name="f.zip")


@pytest.mark.parametrize("name", ["A1.xy", "A1.xrdml", "A1.wdf", "A1.brml", "A1.raw"])
def test_arbitrary_bytes_never_crash_the_readers(name: str) -> None:
    """Whatever arrives, the answer is a spectrum or an InstrumentFileError naming the file."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    x, y = raman_curve(id_ig=1.0)
    seeds = [b"", b"WDF1" + bytes(600), wdf(x, y)[:700], b"PK\x03\x04" + bytes(40),
             b"RAW4.00" + bytes(100), xrdml(x[:30], y[:30])[:400], b"1 2\n3 4\n" * 20]

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(st.binary(max_size=800), st.sampled_from(seeds)),
           st.binary(max_size=40))
    def check(head: bytes, tail: bytes) -> None:
        try:
            s = read_spectrum(head + tail, name=name)
        except InstrumentFileError as exc:
            assert name in str(exc)
        else:
            assert s.x.size >= 20 and np.all(np.diff(s.x) >= 0)

    check()
