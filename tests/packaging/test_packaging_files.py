"""Fast checks of the packaging files (no PyInstaller run: that is packaging/build.sh).

No ``__init__.py`` in this folder on purpose: a ``packaging`` test package would shadow the
``packaging`` library that pip, PyInstaller and bundle_rules import.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"


def _load_rules():
    spec = importlib.util.spec_from_file_location("ichviewer_bundle_rules", PKG / "bundle_rules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rules = _load_rules()


class TestSpecFile:
    def test_spec_is_valid_python_building_one_folder(self):
        tree = ast.parse((PKG / "ichviewer.spec").read_text(encoding="utf-8"))
        calls = {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls
        exe = next(
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "EXE"
        )
        kw = {k.arg: k.value for k in exe.keywords}
        assert ast.literal_eval(kw["exclude_binaries"]) is True  # one-folder, not one-file

    def test_resources_land_where_paths_looks_for_them(self, tmp_path, monkeypatch):
        """The spec copies resources/<sub> to <bundle>/resources/<sub>; resource_dir()
        finds them under sys._MEIPASS before the checkout."""
        text = (PKG / "ichviewer.spec").read_text(encoding="utf-8")
        assert 'f"resources/{sub}"' in text and '("model", "demo", "icons")' in text
        from ichviewer import paths

        (tmp_path / "resources" / "demo" / "series").mkdir(parents=True)
        monkeypatch.delenv("ICHVIEWER_RESOURCES", raising=False)
        monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
        assert paths.demo_study_path() == tmp_path / "resources" / "demo" / "series"

    def test_entry_point_calls_the_cli(self):
        text = (PKG / "ichviewer_entry.py").read_text(encoding="utf-8")
        assert "from ichviewer.cli import main" in text


class TestBundleRules:
    def test_gpl_decoder_is_excluded(self):
        assert "libjpeg" in rules.EXCLUDED_MODULES

    def test_gpl_entries_spots_pylibjpeg_libjpeg_only(self):
        assert rules.gpl_entries(["libjpeg", "libjpeg._libjpeg", "openjpeg"], []) == [
            "libjpeg",
            "libjpeg._libjpeg",
        ]
        files = [
            "libjpeg/_libjpeg.cpython-311-x86_64-linux-gnu.so",
            "libjpeg.so.8",
            "opencv_python_headless.libs/libjpeg-abc.so.62",
        ]
        assert rules.gpl_entries([], files) == [files[0]]

    @pytest.mark.parametrize(
        "dest",
        [
            "torch/include/ATen/ATen.h",
            "torch/lib/libfoo.a",
            "triton/_C/libtriton.so",
            "PySide6/Qt/plugins/platforms/libqeglfs.so",
            "PySide6/Qt/translations/qt_de.qm",
            "_gdcm/gdcmconv",
            "numpy/_core/tests/test_x.py",
        ],
    )
    def test_trimmed(self, dest):
        assert rules.is_trimmed(dest)

    @pytest.mark.parametrize(
        "dest",
        [
            "torch/lib/libtorch_cpu.so",
            "torch/lib/libtorch_cuda.so",
            "nvidia/cu13/lib/libcudart.so.13",
            "PySide6/Qt/plugins/platforms/libqxcb.so",
            "PySide6/Qt/plugins/platforms/libqoffscreen.so",
            "_gdcm/gdcm.py",
            "_gdcm/gdcmswig.py",
            "_gdcm/_gdcmswig.so",
            "openjpeg/utils.py",
            "resources/model/ichviewer-densenet.pt",
            "resources/demo/series/IM0001.dcm",
        ],
    )
    def test_kept(self, dest):
        assert not rules.is_trimmed(dest)

    def test_cuda_patterns_only_for_cpu_torch(self):
        assert rules.is_trimmed("nvidia/cu13/lib/libcudart.so.13", rules.CUDA_PATTERNS)
        assert rules.is_trimmed("torch/lib/libtorch_cuda.so", rules.CUDA_PATTERNS)
        assert not rules.is_trimmed("torch/lib/libtorch_cpu.so", rules.CUDA_PATTERNS)

    def test_runtime_distributions_follow_requirements(self):
        dists = {d.lower().replace("_", "-") for d in rules.runtime_distributions("ichviewer")}
        assert {
            "ichviewer",
            "pydicom",
            "pylibjpeg-openjpeg",
            "python-gdcm",
            "torch",
            "pyside6-essentials",
            "shiboken6",
        } <= dists
        assert not {"pytest", "ruff", "pylibjpeg-libjpeg"} & dists  # test extra, GPL

    def test_licence_files_come_from_dist_info(self):
        found = rules.licence_files(["pydicom", "numpy"])
        dests = {d for _, d in found}
        assert any(d.startswith("licences/pydicom") for d in dests)
        assert any(d.startswith("licences/numpy") for d in dests)
        assert all(Path(s).is_file() for s, _ in found)
        assert rules.licence_files(["pydicom"], exclude=["pydicom"]) == []

    def test_wheels_without_licence_files_get_a_note(self, tmp_path):
        """PySide6 wheels ship no licence text: the bundle gets one from the metadata."""
        found = rules.metadata_licence_notes(["PySide6-Essentials", "pydicom"], tmp_path)
        dests = {d for _, d in found}
        assert "licences/PySide6_Essentials" in dests or "licences/PySide6-Essentials" in dests
        assert not any("pydicom" in d for d in dests)  # it has its own licence file
        note = next(Path(s) for s, _ in found if s.endswith("LICENSE-FROM-METADATA.txt"))
        assert "LGPL" in note.read_text(encoding="utf-8")


def _control_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        assert line.strip(), "blank line inside a control paragraph"
        if line[0] in " \t":
            assert key is not None
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key), key
            assert key not in fields, f"duplicate field {key}"
            fields[key] = value.strip()
    return fields


class TestDebTemplates:
    def test_control_template_is_a_valid_paragraph(self):
        text = (PKG / "deb" / "control.in").read_text(encoding="utf-8")
        filled = (
            text.replace("@VERSION@", "0.1.0")
            .replace("@ARCH@", "amd64")
            .replace("@INSTALLED_SIZE@", "123456")
            .replace("@FLAVOUR@", "CPU-only")
        )
        assert "@" not in filled.replace("@example.org", "")
        f = _control_fields(filled)
        for key in (
            "Package",
            "Version",
            "Architecture",
            "Maintainer",
            "Description",
            "Installed-Size",
            "Depends",
        ):
            assert f.get(key), key
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", f["Package"])
        assert "not for diagnostic use" in f["Description"].lower()
        for dep in f["Depends"].split(","):
            assert re.fullmatch(r"\s*[a-z0-9][a-z0-9+.-]+( \((>=|<=|=|<<|>>) [^)]+\))?\s*", dep)

    def test_desktop_entry(self):
        cp = configparser.ConfigParser(interpolation=None)
        cp.optionxform = str
        cp.read(PKG / "deb" / "ichviewer.desktop", encoding="utf-8")
        entry = cp["Desktop Entry"]
        assert entry["Type"] == "Application"
        assert entry["Exec"].split()[0] == "ichviewer"
        assert entry["Icon"] == "ichviewer"
        assert (ROOT / "resources" / "icons" / "ichviewer.png").is_file()

    @pytest.mark.parametrize("script", ["deb/postinst", "deb/postrm"])
    def test_maintainer_scripts_are_executable_sh(self, script):
        path = PKG / script
        assert path.stat().st_mode & 0o111
        assert path.read_text().startswith("#!/bin/sh")
        assert subprocess.run(["sh", "-n", str(path)]).returncode == 0

    def test_postrm_removes_the_install_folder_but_not_on_upgrade(self):
        text = (PKG / "deb" / "postrm").read_text()
        case = re.search(r"^\s*(remove\|[^)]*)\)", text, re.M)
        assert case and "upgrade" not in case.group(1)
        assert "rm -rf /opt/ichviewer" in text

    def test_site_config_example_is_valid(self, monkeypatch):
        from ichviewer.site_config import load_site_config

        cfg = load_site_config(PKG / "deb" / "site.json.example")
        # only the example model path (absent here) is reported
        assert [w.split(": ")[1] for w in cfg.warnings] == ["model"]
        assert dict(cfg.thresholds) == {"any": 0.35, "subdural": 0.4}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", ["build.sh", "smoke.sh", "make_deb.sh"])
def test_shell_scripts_parse(script):
    path = PKG / script
    assert path.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0


def test_example_json_is_plain_json():
    json.loads((PKG / "deb" / "site.json.example").read_text(encoding="utf-8"))
