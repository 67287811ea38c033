"""What goes into the PyInstaller bundle and what is trimmed out (used by ichviewer.spec).

Kept free of PyInstaller imports so tests can check the rules quickly. Paths are bundle
destination paths with forward slashes (``torch/include/ATen/ATen.h``).
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

#: Python modules the app never imports. pylibjpeg-libjpeg (module ``libjpeg``) is GPL-3:
#: it must never be bundled; the JPEG decoders we ship are pylibjpeg-openjpeg and GDCM.
GPL_MODULES = ("libjpeg",)
EXCLUDED_MODULES = (
    *GPL_MODULES,
    "tkinter",
    "_tkinter",
    "matplotlib",
    "IPython",
    "jedi",
    "pytest",
    "_pytest",
    "pytest_qt",
    "pytestqt",
    "ruff",
    "importlinter",
    "grimp",
    "rich",
    "pygments",
    "scipy",
    "pandas",
    "h5py",
    "triton",  # torch.compile only; `import torch` does not load it (measured)
    "torch.utils.tensorboard",
    "tensorboard",
    "torchvision.io.video",
    "training",  # the training package ships separately
    "PyInstaller",
    # Qt modules the viewer does not use (pyqtgraph imports QtSvg optionally; it needs
    # QtOpenGL and QtOpenGLWidgets at import, so those stay)
    "PySide6.QtNetwork",
    "PySide6.QtSvg",
    "PySide6.QtSvgWidgets",
    "PySide6.QtPrintSupport",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtXml",
    "PySide6.QtConcurrent",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtUiTools",
)

#: Bundle paths dropped after analysis: headers, static libs, test suites, build tools,
#: Qt plugins and translations nobody loads. Globs on the destination path.
TRIM_PATTERNS = (
    "torch/include/*",
    "torch/share/*",
    "torch/test/*",
    "torch/bin/protoc*",  # build tool; torch_shm_manager stays (torch checks it at import)
    "torch/testing/_internal/*",
    "torch/lib/lib*_test.so",  # libtorchbind_test, libjitbackend_test: torch's own tests
    "torch/lib/libaoti_custom_ops.so",
    "torch/lib/libbackend_with_compiler.so",
    "torch/utils/benchmark/*",
    "*.a",
    "*.lib",
    "*.pyi",
    "*/tests/*",
    "triton/*",
    "_gdcm/gdcm[a-z]*[!y]",  # gdcmconv, gdcmdump... command-line tools; keep gdcm*.py
    "PySide6/Qt/translations/*",
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/plugins/designer/*",
    "PySide6/Qt/plugins/qmltooling/*",
    "PySide6/Qt/plugins/qmllint/*",
    "PySide6/Qt/plugins/sqldrivers/*",
    "PySide6/Qt/plugins/printsupport/*",
    "PySide6/Qt/plugins/tls/*",
    "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/lib/libQt6Quick*",
    "PySide6/Qt/lib/libQt6Qml*",
    "PySide6/Qt/lib/libQt6Pdf*",
    "PySide6/Qt/lib/libQt6Designer*",
)

#: Without these the CUDA torch wheel cannot even be imported: libtorch_python.so has
#: DT_NEEDED entries on libtorch_cuda.so, libc10_cuda.so, libcudart, libcudnn, libnccl and
#: libcufile (measured with torch 2.14.1+cu130). They are only dropped from a CPU torch
#: (which does not reference them at all). See packaging/README.md.
CUDA_PATTERNS = ("nvidia/*", "torch/lib/libtorch_cuda*", "torch/lib/libc10_cuda*", "cuda/*")

#: torchvision's compiled ops (nms, roi_align, image decoding) and the CUDA libraries they
#: link, dropped when they cannot load with the bundled torch (see hooks/torchvision_noops.py).
TORCHVISION_OPS_PATTERNS = ("torchvision/*.so", "torchvision.libs/*")

LICENCE_RE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS|COPYRIGHT)[^/]*$", re.I)


def is_trimmed(dest: str, patterns: Iterable[str] = TRIM_PATTERNS) -> bool:
    """True when the bundle path ``dest`` matches one of ``patterns``."""
    dest = dest.replace("\\", "/")
    return any(fnmatch.fnmatchcase(dest, p) for p in patterns)


def runtime_distributions(root: str = "ichviewer") -> list[str]:
    """``root`` and its installed runtime requirements, transitively (no extras)."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional or platform-specific requirement that is not installed
        seen[key] = dist.metadata["Name"]
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(seen.values(), key=str.lower)


def licence_files(dists: Iterable[str], exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(source file, bundle folder) for the licence texts in each distribution's metadata.

    Files go to ``licences/<Distribution>/`` keeping their path below the dist-info folder
    (torch ships ``licenses/third_party/...``). ``exclude`` names distributions left out
    of the bundle (e.g. triton).
    """
    skip = {re.sub(r"[-_.]+", "-", d).lower() for d in exclude}
    out: list[tuple[str, str]] = []
    for name in dists:
        if re.sub(r"[-_.]+", "-", name).lower() in skip:
            continue
        dist = metadata.distribution(name)
        for f in dist.files or []:
            parts = Path(f).parts
            if not parts or not parts[0].endswith((".dist-info", ".egg-info")):
                continue
            rel = Path(*parts[1:]).as_posix()
            if not LICENCE_RE.search(rel):
                continue
            src = Path(dist.locate_file(f))
            if src.is_file():
                dest = Path("licences") / dist.metadata["Name"] / Path(rel).parent
                out.append((str(src), dest.as_posix()))
    return out


def python_licence() -> list[tuple[str, str]]:
    """CPython's own licence text, which the bundled interpreter is under."""
    cand = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for p in (cand / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt"):
        if p.is_file():
            return [(str(p), "licences/Python")]
    return []


def gpl_entries(modules: Iterable[str], files: Iterable[str]) -> list[str]:
    """Bundled modules or files that belong to a GPL package (must be empty).

    Files are matched by their top folder only: ``libjpeg/_libjpeg.so`` is pylibjpeg-libjpeg,
    while a system ``libjpeg.so.8`` next to Qt is the (BSD-style) IJG/turbo library.
    """
    bad = [m for m in modules if m.split(".")[0] in GPL_MODULES]
    for f in files:
        parts = f.replace("\\", "/").split("/")
        if len(parts) > 1 and parts[0] in GPL_MODULES:
            bad.append(f)
    return bad


#: Licence texts some wheels name in their metadata but do not ship (PySide6 and shiboken6:
#: "LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only"); taken from the build machine's copy
#: (Debian: /usr/share/common-licenses) where it has one.
COMMON_LICENCES = {"pyside6-essentials": ("LGPL-3", "GPL-3"), "shiboken6": ("LGPL-3", "GPL-3")}
COMMON_LICENCE_DIRS = (Path("/usr/share/common-licenses"),)


def metadata_licence_notes(
    dists: Iterable[str], out_dir: Path, exclude: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """For distributions that ship no licence file: a note written from their metadata
    (name, version, License / License-Expression, licence classifiers, home page) plus any
    :data:`COMMON_LICENCES` text found locally. Returns (source, bundle folder) pairs."""
    have = {Path(d).parts[1] for _, d in licence_files(dists, exclude)}
    skip = {re.sub(r"[-_.]+", "-", d).lower() for d in exclude}
    out: list[tuple[str, str]] = []
    for name in dists:
        dist = metadata.distribution(name)
        real = dist.metadata["Name"]
        key = re.sub(r"[-_.]+", "-", real).lower()
        if real in have or key in skip:
            continue
        md = dist.metadata
        lines = [f"{real} {dist.version}"]
        for field in ("License-Expression", "License", "Home-page"):
            value = md.get(field)
            if value and len(value) < 500:
                lines.append(f"{field}: {value}")
        lines += [c for c in md.get_all("Classifier") or [] if c.startswith("License ::")]
        lines.append("(no licence file in the wheel; this note is generated from its metadata)")
        dest = out_dir / real
        dest.mkdir(parents=True, exist_ok=True)
        note = dest / "LICENSE-FROM-METADATA.txt"
        note.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.append((str(note), f"licences/{real}"))
        for text in COMMON_LICENCES.get(key, ()):
            for d in COMMON_LICENCE_DIRS:
                if (d / text).is_file():
                    out.append((str(d / text), f"licences/{real}"))
                    break
    return out
