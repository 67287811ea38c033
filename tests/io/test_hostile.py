"""Hostile input: one folder mixing good slices with every kind of bad file a hostile user
(or a damaged disk, or a careless export) produces. ``ichviewer info`` must load exactly the
good slices, name every bad file with a reason, finish in seconds under bounded memory, and
print no traceback and no patient identifier anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pydicom.config
import pytest

from tests.dicom_factory import ct_dataset

NAME, PID = "DOE^JANE", "SECRET-ID-123"  # what ct_dataset writes; must never be printed
GOOD = 5  # four files and one zip member


def _hu(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = np.arange(64) - 31.5
    r = np.hypot(*np.meshgrid(c, c))
    hu = np.where(r < 28, 35.0, -1000.0) + rng.normal(0, 3, (64, 64))
    hu[(r > 25) & (r < 28)] = 1200.0
    return hu


def _bytes(ds: pydicom.Dataset) -> bytes:
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _patch(
    data: bytes, tag: tuple[int, int], new_vr: bytes | None = None, value: bytes | None = None
) -> bytes:
    """Change one explicit-VR element's VR and/or (same-length) value in encoded bytes."""
    key = tag[0].to_bytes(2, "little") + tag[1].to_bytes(2, "little")
    i = data.index(key, 132)
    length = int.from_bytes(data[i + 6 : i + 8], "little")
    out = bytearray(data)
    if new_vr is not None:
        out[i + 4 : i + 6] = new_vr
    if value is not None:
        assert len(value) == length
        out[i + 8 : i + 8 + length] = value
    return bytes(out)


def _encrypt_flag(path: Path) -> None:
    """Mark every member of a stored zip as encrypted (local and central headers)."""
    data = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(sig)
        while i >= 0:
            data[i + off] |= 0x1
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def _good(k: int) -> pydicom.Dataset:
    return ct_dataset(_hu(k), z=5.0 * k, instance=k + 1)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """(folder, names of the bad entries); GOOD good slices."""
    root = tmp_path_factory.mktemp("hostile")
    d = root / "study!1"  # a '!' in the path must not break the zips inside it
    d.mkdir()
    for k in range(GOOD - 1):
        _good(k).save_as(d / f"good{k}.dcm", enforce_file_format=True)
    with zipfile.ZipFile(d / "good.zip", "w") as zf:
        zf.writestr(f"good{GOOD - 1}.dcm", _bytes(_good(GOOD - 1)))
    bad: dict[str, bytes] = {}
    base = _bytes(_good(9))
    bad["unknown_vr.dcm"] = _patch(base, (0x0028, 0x1053), new_vr=b"WI")
    bad["slope_text.dcm"] = _patch(base, (0x0028, 0x1053), value=b"abc ")
    old = pydicom.config.settings.writing_validation_mode
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        for fname, change in {
            "modality_phi.dcm": {"Modality": f"{NAME} {PID}"},
            "slope_nan.dcm": {"RescaleSlope": "NaN"},
            "slope_inf.dcm": {"RescaleSlope": "inf"},
            "slope_huge.dcm": {"RescaleSlope": "1e308"},
            "ipp_nan.dcm": {"ImagePositionPatient": ["nan", "0", "0"]},
            "pixrep2.dcm": {"PixelRepresentation": 2},
            "bits8.dcm": {"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7},
            "frames_negative.dcm": {"NumberOfFrames": -5},
        }.items():
            ds = _good(9)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.9.{len(bad)}"
            for k, v in change.items():
                setattr(ds, k, v)
            bad[fname] = _bytes(ds)
    finally:
        pydicom.config.settings.writing_validation_mode = old
    for fname, data in bad.items():
        (d / fname).write_bytes(data)
    # Zeros pretending to be a 100 MB DICOM file (sparse: costs no disk).
    with open(d / "zeros.dcm", "wb") as fh:
        fh.truncate(100 << 20)
    # A zip member whose CRC fails, and an encrypted one; both next to a good member.
    crc = d / "crc.zip"
    with zipfile.ZipFile(crc, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("bad_crc.dcm", base)
    raw = bytearray(crc.read_bytes())
    raw[2000] ^= 0xFF  # inside the member's data
    crc.write_bytes(bytes(raw))
    enc = d / "locked.zip"
    with zipfile.ZipFile(enc, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("encrypted.dcm", base)
    _encrypt_flag(enc)
    # A zip bomb: 600 MB of zeros in a few hundred kB.
    block = bytes(16 << 20)
    with (
        zipfile.ZipFile(d / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("bomb.dcm", "w", force_zip64=True) as fh,
    ):
        for _ in range(600 // 16):
            fh.write(block)
    # Not regular files: a FIFO, a device behind a link, a link loop, a dangling link.
    os.mkfifo(d / "pipe.dcm")
    os.symlink("/dev/zero", d / "zero_device.dcm")
    os.symlink(d / "loop_b.dcm", d / "loop_a.dcm")
    os.symlink(d / "loop_a.dcm", d / "loop_b.dcm")
    os.symlink(d / "nowhere.dcm", d / "dangling.dcm")
    names = {*bad, "zeros.dcm", "bad_crc.dcm", "encrypted.dcm", "bomb.dcm", "pipe.dcm"}
    names |= {"zero_device.dcm", "loop_a.dcm", "loop_b.dcm", "dangling.dcm"}
    return d, names


#: Runs ``ichviewer ARGS`` and reports its own peak RSS (and its worker processes'), so
#: that a large earlier child of the test session cannot count against it.
_PEAK = (
    "import resource, sys\n"
    "from ichviewer.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "peak = max(resource.getrusage(w).ru_maxrss "
    "for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
    "sys.stderr.write(f'\\nPEAK_KB {peak}\\n')\n"
    "sys.exit(rc)\n"
)


def _run(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ICHVIEWER_LOG_LEVEL": "DEBUG"},
    )
    peaks = [
        int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KB")
    ]
    assert peaks, f"no PEAK_KB line: {proc.stderr[-500:]}"
    return proc, max(peaks)


def _strict(text: str) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"invalid JSON token {token}")

    return json.loads(text, parse_constant=refuse)


class TestHostileFolder:
    def test_info_loads_the_good_slices_and_names_every_bad_file(self, hostile):
        folder, names = hostile
        proc, peak_kb = _run("info", str(folder), "--json", timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = _strict(proc.stdout)
        (series,) = report["series"]
        assert series["n_slices"] == GOOD
        assert sorted(Path(s["file"].split("!")[-1]).name for s in series["slices"]) == [
            f"good{k}.dcm" for k in range(GOOD)
        ]
        named = {Path(e["file"].split("!")[-1]).name for e in report["errors"]}
        assert names <= named, names - named
        for e in report["errors"]:
            assert e["error"] and "Traceback" not in e["error"]
        everything = proc.stdout + proc.stderr
        assert "Traceback" not in everything
        assert NAME not in everything and PID not in everything and "DOE" not in everything
        assert peak_kb < 1.5 * 1024 * 1024  # under 1.5 GB

    def test_each_bad_file_gets_a_reason_a_user_understands(self, hostile):
        folder, _ = hostile
        proc, _ = _run("info", str(folder), "--json", timeout=60)
        why = {
            Path(e["file"].split("!")[-1]).name: e["error"] for e in _strict(proc.stdout)["errors"]
        }
        assert "(0028,1053)" in why["slope_text.dcm"]
        for f in ("slope_nan.dcm", "slope_inf.dcm", "slope_huge.dcm"):
            assert "(0028,1053) RescaleSlope" in why[f] and "must be" in why[f]
        assert "(0008,0060) Modality" in why["modality_phi.dcm"]
        assert "value not shown" in why["modality_phi.dcm"]
        assert "(0020,0032)" in why["ipp_nan.dcm"]
        assert "(0028,0103)" in why["pixrep2.dcm"]
        assert "(7FE0,0010)" in why["bits8.dcm"]
        assert "(0028,0008)" in why["frames_negative.dcm"]
        assert why["zeros.dcm"].startswith("not a DICOM file")
        assert "CRC" in why["bad_crc.dcm"] and "encrypted" in why["encrypted.dcm"]
        assert "limit" in why["bomb.dcm"]
        assert "FIFO" in why["pipe.dcm"] and "device" in why["zero_device.dcm"]
        assert "loops" in why["loop_a.dcm"] and "broken" in why["dangling.dcm"]

    def test_text_output_and_the_log_carry_no_identifier(self, hostile, tmp_path):
        folder, _ = hostile
        env_cache = tmp_path / "cache"
        proc = subprocess.run(
            [sys.executable, "-m", "ichviewer", "info", str(folder)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "ICHVIEWER_CACHE_DIR": str(env_cache)},
        )
        assert proc.returncode == 0
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out and "DOE" not in out and PID not in out
        for p in env_cache.rglob("*") if env_cache.exists() else []:
            if p.is_file():
                text = p.read_bytes()
                assert b"DOE" not in text and PID.encode() not in text


class TestHeaderFuzz:
    """Random byte flips in the header of a real-shaped file: a named error or a correct
    load, never a traceback, never an identifier in the message."""

    def test_flipped_header_bytes(self, tmp_path):
        from ichviewer.io import scan

        base = bytearray(_bytes(_good(1)))
        pixel_at = bytes(base).index(b"\xe0\x7f\x10\x00")
        rng = np.random.default_rng(0)
        for k in range(150):
            data = bytearray(base)
            for _ in range(int(rng.integers(1, 4))):
                i = int(rng.integers(132, pixel_at))
                data[i] ^= 1 << int(rng.integers(0, 8))
            p = tmp_path / f"fuzz{k}.dcm"
            p.write_bytes(bytes(data))
            res = scan([p])  # must not raise
            for e in res.errors:
                assert e.error and NAME not in e.error and PID not in e.error
                assert "DOE" not in e.error
            for s in res.series:
                from ichviewer.io import SeriesReader

                hu = SeriesReader(s).load_all()
                assert np.isfinite(hu).all()
            p.unlink()


def test_an_unreadable_subfolder_is_named(tmp_path, monkeypatch):
    from ichviewer.io import scan

    (tmp_path / "locked").mkdir()
    _good(0).save_as(tmp_path / "good.dcm", enforce_file_format=True)
    real = os.scandir

    def scandir(path="."):  # noqa: ANN001, ANN202 (root may read anything: simulate EACCES)
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    res = scan([tmp_path])
    assert res.series[0].n_slices == 1
    (err,) = res.errors
    assert err.file.endswith("locked") and "folder cannot be read" in err.error
