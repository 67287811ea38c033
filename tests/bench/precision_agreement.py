"""How far the low-precision paths land from fp32 on whole series (a script, not a test).

    python tests/bench/precision_agreement.py [--model CKPT] SERIES_FOLDER...

For each folder: every slice scored in fp32, bf16 and int8 (int8 and bf16 built with the
old, phantom-only load check, so they run even where the app's check refuses them), and the
largest |delta p| per label against fp32. The app uses a precision only when it agrees
within 0.02 on its load check (three phantoms and ten demo slices).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ichviewer import paths
from ichviewer.ai.predictor import Predictor, phantom_slices
from ichviewer.core.labels import LABELS
from ichviewer.io import SeriesReader, scan


def _volume(folder: str) -> np.ndarray:
    found = scan([folder])
    if not found.series:
        raise SystemExit(f"{folder}: no image series")
    reader = SeriesReader(found.best_series())
    reader.load_all()
    return reader.volume


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--model", default=str(paths.bundled_model_path()))
    a = ap.parse_args()
    out = {}
    for folder in a.folders:
        slices = list(_volume(folder))
        probs = {}
        size = Predictor(a.model, device="cpu", precision="fp32").spec.size
        for prec in ("fp32", "bf16", "int8"):
            checks = phantom_slices(3, size)
            p = Predictor(a.model, device="cpu", precision=prec, check_slices=checks)
            probs[p.precision] = np.array([r.probabilities for r in p.predict(slices)])
        row = {}
        for prec in ("bf16", "int8"):
            if prec in probs:
                d = np.abs(probs[prec] - probs["fp32"]).max(0)
                row[prec] = {
                    "max": round(float(d.max()), 4),
                    **dict(zip(LABELS, d.round(4).tolist(), strict=True)),
                }
        out[folder] = row
        print(
            f"{folder} ({len(slices)} slices): "
            + "; ".join(f"{k} max |dp| {v['max']}" for k, v in row.items())
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
