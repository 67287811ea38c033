"""The committed demo study (resources/demo): one synthetic study with four subtypes,
written as RLE DICOMs with its labels, masks and a README. Fixed seed, so rerunning
``python -m training synth --demo`` gives the same files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ichviewer.core.labels import LABELS
from training.synth_io import image_ids, write_labels_csv, write_study
from training.synthetic import SyntheticStudy, _generate

DEMO_SEED = 2043
DEMO_TYPES = ("epidural", "intraparenchymal", "intraventricular", "subarachnoid")
DEMO_COMMAND = "python -m training synth --demo --out resources/demo"


def make_demo(out_dir: Path) -> None:
    """Write the committed demo study: RLE DICOMs in out_dir/series, labels.csv, masks.npz,
    README.md. Fixed seed and subtypes, so rerunning gives the same files."""
    out_dir = Path(out_dir)
    study = _generate(
        DEMO_SEED,
        0,
        size=512,
        n_slices=None,
        lesion_types=DEMO_TYPES,
        p_negative=0.0,
        quiet_air=True,
        # The committed files predate the scanner model, vessels and thin slices.
        scanner=False,
        vessels=False,
        thin=False,
        pitched=False,
    )
    series = out_dir / "series"
    if series.is_dir():
        shutil.rmtree(series)
    write_study(study, series, layout="series", compress=True)
    ids = image_ids(study)
    write_labels_csv(zip(ids, study.labels, strict=True), out_dir / "labels.csv")
    np.savez_compressed(
        out_dir / "masks.npz", masks=study.masks, sop_uids=np.array(study.uids["sop_uids"])
    )
    (out_dir / "README.md").write_text(_demo_readme(study), encoding="utf-8")


def _demo_readme(study: SyntheticStudy) -> str:
    lines = [
        "# Demo study (synthetic)",
        "",
        "**This is not a patient.** It is a computer-generated head-CT phantom with painted-in",
        "hemorrhages, made by `training/synthetic.py`. It exists so the viewer has something to",
        "open out of the box and so tests can check that heat maps land on the lesions.",
        "",
        "Made with:",
        "",
        "```",
        DEMO_COMMAND,
        "```",
        "",
        f"(`make_demo()`: seed {DEMO_SEED}, study 0, 512 x 512, subtypes "
        f"{', '.join(DEMO_TYPES)}; the air around the head is left noise-free so the files "
        "compress.) Rerunning it writes identical files.",
        "",
        "| file | what |",
        "| --- | --- |",
        f"| series/0001.dcm ... {study.hu.shape[0]:04d}.dcm | CT slices, RLE Lossless, "
        "0001 = skull base, last = vertex |",
        "| labels.csv | RSNA long format (`ID_<SOPInstanceUID>_<label>,0/1`, six rows a slice) |",
        "| masks.npz | `masks` (slices x 512 x 512 uint8, bit i = LABELS[i]) and `sop_uids` |",
        "",
        "Slices with each subtype (1-based instance numbers):",
        "",
    ]
    for k, name in enumerate(LABELS):
        where = [str(i + 1) for i in np.flatnonzero(study.labels[:, k])]
        lines.append(f"- {name}: {', '.join(where) if where else 'none'}")
    lines += ["", "Lesions placed (`centre_mm`: patient LPS, `centre_voxel`: slice, row, col):", ""]
    lines += ["```", *(json.dumps(d) for d in study.lesions), "```", ""]
    return "\n".join(lines)
