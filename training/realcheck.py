"""``python -m training realct-check``: what a viewer checkpoint does on the real CT in
../shared/data/realct, scored by the viewer's own engine (the triage code path: mirror
averaging, series context, thresholds, study-level call and scope check as the app applies
them). Never trains on these files; they are the only real test this project has.

It reports the numbers issue 15 is judged by: ge_head's study call and slice flags, the
same for ge_head mirrored left-right (a temporary copy, flipped pixel by pixel), flags on
the 20 rsna_samples, on the 48 believed-normal slices together, on cq500_ct0, which of the
6 rsna_positives are flagged and with which labels, and whether the chest CT is out of
scope. ``--mirror on|off`` / ``--no-context`` / ``--study-threshold`` switch the inference-time
stages off or override them, for ablations; ``--shift-hu`` scores every image as a scanner
calibrated that many HU higher (or lower) would show it, to see how much the calls hang on
calibration.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ichviewer.core.labels import LABELS

logger = logging.getLogger("training")

REPO = Path(__file__).resolve().parents[1]
REALCT = REPO.parent / "shared" / "data" / "realct"


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Score ../shared/data/realct with a viewer checkpoint as the app does and "
        "print the real-CT checks. Example:\n"
        "  python -m training realct-check --model resources/model/ichviewer-densenet.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=add_help,
    )
    p.add_argument("--model", default=str(REPO / "resources" / "model" / "ichviewer-densenet.pt"))
    p.add_argument("--realct", default=str(REALCT), help="the realct folder")
    p.add_argument("--out", default=None, help="also write the numbers as JSON here")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--mirror",
        choices=("auto", "on", "off"),
        default="auto",
        help="mirror averaging: as the checkpoint says (auto), forced on or off",
    )
    p.add_argument(
        "--no-context",
        action="store_true",
        help="the network's per-slice probabilities and thresholds (no series context)",
    )
    p.add_argument(
        "--study-threshold", type=float, default=None, help="override the study-level threshold"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="one slice threshold for every label (and the study, unless --study-threshold); "
        "needed for a training checkpoint.pth, which has no thresholds until fit ends",
    )
    p.add_argument(
        "--shift-hu",
        type=float,
        default=0.0,
        metavar="HU",
        help="add HU to every pixel before scoring: the same scans from a scanner calibrated "
        "HU higher (negative: lower); real scanners put brain several HU apart",
    )
    return p


def _shifted(predictor: Any, hu: float) -> Any:
    """``predictor`` scoring every HU slice ``hu`` higher (its other calls unchanged)."""
    score = predictor.predict

    def predict(hu_slices: Any, want_cam: bool = False) -> Any:
        return score([np.asarray(h, np.float32) + hu for h in hu_slices], want_cam=want_cam)

    predictor.predict = predict
    return predictor


def _viewer_checkpoint(path: Path, tmp: Path, threshold: float | None) -> Path:
    """``path`` itself when it is a viewer checkpoint; a training ``checkpoint.pth`` (say one
    epoch's, for an ablation) is exported to ``tmp`` with mirror averaging on, no series
    context and ``threshold`` for every label."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if "format" in state:
        return path
    if threshold is None:
        raise SystemExit(f"{path} is a training checkpoint: give --threshold")
    from ichviewer.ai.checkpoint import save_checkpoint
    from training.evaluate import load_model

    model, spec, state = load_model(path)
    out = tmp / "epoch.pt"
    card = {"name": f"{path.stem} (epoch {state['epoch']})", "training_data": "synthetic"}
    save_checkpoint(
        out,
        model,
        spec,
        [threshold] * len(LABELS),
        card,
        mirror_average=True,
        study_threshold=threshold,
    )
    return out


def _mirrored_copy(src: Path, dst: Path) -> Path:
    """ge_head flipped left-right, pixel by pixel, same UIDs (written to a temp folder)."""
    import pydicom

    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if not f.is_file():
            continue
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array[:, ::-1].copy()
        ds.PixelData = arr.astype(ds.pixel_array.dtype).tobytes()
        ds.save_as(dst / f.name)
    return dst


def _score(folder: Path | list[Path], predictor: Any) -> list[dict[str, Any]]:
    from ichviewer.ai.triage import score_scan
    from ichviewer.io import scan

    paths = folder if isinstance(folder, list) else [folder]
    studies, _errors = score_scan(scan(paths), predictor, None)
    return studies


def _flags(studies: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {s["sop_instance_uid"]: s["flagged_labels"] for st in studies for s in st["slices"]}


def _p_any(studies: list[dict[str, Any]]) -> list[float]:
    return [s["probabilities"]["any"] for st in studies for s in st["slices"]]


def _summary(studies: list[dict[str, Any]]) -> dict[str, Any]:
    flags = _flags(studies)
    p = np.array(_p_any(studies)) if flags else np.zeros(0)
    return {
        "slices": len(flags),
        "flagged_any": sum("any" in v for v in flags.values()),
        "studies": len(studies),
        "studies_flagged": sum(bool(st["study_flagged"]) for st in studies),
        "p_any_median": round(float(np.median(p)), 4) if len(p) else None,
        "p_any_p90": round(float(np.percentile(p, 90)), 4) if len(p) else None,
        "p_any_max": round(float(p.max()), 4) if len(p) else None,
        "study_probability": [st["study_probability"] for st in studies][:3],
    }


def check(args: argparse.Namespace) -> dict[str, Any]:
    from ichviewer.ai.checkpoint import load_checkpoint
    from ichviewer.ai.predictor import Predictor

    with tempfile.TemporaryDirectory(prefix="ichv-realct-") as tmp:
        ck = load_checkpoint(_viewer_checkpoint(Path(args.model), Path(tmp), args.threshold))
    if args.mirror != "auto":
        ck.mirror_average = args.mirror == "on"
    if args.no_context and ck.context is not None:
        ck.thresholds = dict(ck.slice_thresholds or ck.thresholds)
        ck.context = None
    if args.threshold is not None:
        ck.thresholds = dict.fromkeys(LABELS, float(args.threshold))
        ck.study_threshold = float(args.threshold)
    if args.study_threshold is not None:
        ck.study_threshold = float(args.study_threshold)
    predictor = Predictor(ck, device=args.device)
    if args.shift_hu:
        predictor = _shifted(predictor, float(args.shift_hu))
    root = Path(args.realct)
    out: dict[str, Any] = {
        "model": {"name": ck.name, "sha256": ck.sha256},
        "shift_hu": float(args.shift_hu),
        "mirror_average": predictor.mirror_average,
        "series_context": predictor.context is not None,
        "study_threshold": predictor.study_threshold,
        "any_threshold": float(ck.thresholds["any"]),
    }
    ge = _score(root / "ge_head", predictor)
    out["ge_head"] = _summary(ge)
    with tempfile.TemporaryDirectory(prefix="ichv-mirror-") as tmp:
        mirrored = _score(_mirrored_copy(root / "ge_head", Path(tmp) / "ge_head"), predictor)
    out["ge_head_mirrored"] = _summary(mirrored)
    a, b = _flags(ge), _flags(mirrored)
    out["ge_head_mirror_any_flag_differences"] = sum(
        ("any" in a[k]) != ("any" in b.get(k, [])) for k in a
    )
    out["ge_head_mirror_max_abs_delta_p_any"] = round(
        max(abs(x - y) for x, y in zip(_p_any(ge), _p_any(mirrored), strict=True)),
        6,
    )
    rs = _score(root / "rsna_samples", predictor)
    out["rsna_samples"] = _summary(rs)
    out["normal_48"] = {
        "slices": out["ge_head"]["slices"] + out["rsna_samples"]["slices"],
        "flagged_any": out["ge_head"]["flagged_any"] + out["rsna_samples"]["flagged_any"],
    }
    cq = _score(root / "cq500_ct0", predictor)
    out["cq500_ct0"] = _summary(cq)
    out["cq500_ct0"]["flagged_fraction"] = round(
        out["cq500_ct0"]["flagged_any"] / max(1, out["cq500_ct0"]["slices"]), 4
    )
    pos = _score(root / "rsna_positives", predictor)
    truth = {}
    labels_csv = root / "rsna_positives" / "labels.csv"
    if labels_csv.is_file():
        rows = labels_csv.read_text().splitlines()[1:]
        truth = {
            r.split(",")[0]: [
                lb for lb, v in zip(LABELS, r.split(",")[1:], strict=True) if v == "1"
            ]
            for r in rows
        }
    out["rsna_positives"] = {
        **_summary(pos),
        "slices_detail": [
            {
                "sop_instance_uid": s["sop_instance_uid"],
                "truth": truth.get(s["sop_instance_uid"], []),
                "flagged": s["flagged_labels"],
                "p_any": s["probabilities"]["any"],
            }
            for st in pos
            for s in st["slices"]
        ],
    }
    chest = root / "transfer_syntaxes" / "CTImage.dcm"
    if chest.is_file():
        (c,) = _score([chest], predictor)
        out["chest_ct"] = {
            "in_scope": c["in_scope"],
            "scope_reason": c["scope_reason"],
            "flagged": len(c["flagged"]),
        }
    return out


def _print(r: dict[str, Any]) -> None:
    g, m, rs, n, cq, pos = (
        r["ge_head"],
        r["ge_head_mirrored"],
        r["rsna_samples"],
        r["normal_48"],
        r["cq500_ct0"],
        r["rsna_positives"],
    )
    lines = [
        f"model {r['model']['name']} (sha256 {r['model']['sha256'][:16]}); mirror average "
        f"{r['mirror_average']}, series context {r['series_context']}, thresholds: 'any' "
        f"{r['any_threshold']:.3f}, study {r['study_threshold']:.3f}"
        + (f"; every pixel shifted {r['shift_hu']:+g} HU" if r.get("shift_hu") else ""),
        f"ge_head: study flagged {bool(g['studies_flagged'])} (P(any) "
        f"{g['study_probability'][0]:.3f}); {g['flagged_any']}/{g['slices']} slices flagged 'any'; "
        f"median P(any) {g['p_any_median']}",
        f"ge_head mirrored: study flagged {bool(m['studies_flagged'])}; {m['flagged_any']}/"
        f"{m['slices']} flagged; 'any' flags differ on {r['ge_head_mirror_any_flag_differences']} "
        f"slices (max |delta P(any)| {r['ge_head_mirror_max_abs_delta_p_any']})",
        f"rsna_samples: {rs['flagged_any']}/{rs['slices']} slices flagged 'any' (median P(any) "
        f"{rs['p_any_median']})",
        f"48 believed-normal slices: {n['flagged_any']}/{n['slices']} flagged 'any'",
        f"cq500_ct0: {cq['flagged_any']}/{cq['slices']} slices flagged ({100 * cq['flagged_fraction']:.1f} %), "
        f"study flagged {bool(cq['studies_flagged'])} (P(any) {cq['study_probability'][0]:.3f})",
        f"rsna_positives: {pos['flagged_any']}/{pos['slices']} flagged 'any'",
    ]
    for s in pos["slices_detail"]:
        lines.append(
            f"    {s['sop_instance_uid']}: truth {','.join(s['truth']) or '-'}; flagged "
            f"{','.join(s['flagged']) or '-'} (P(any) {s['p_any']:.3f})"
        )
    if "chest_ct" in r:
        c = r["chest_ct"]
        lines.append(
            f"chest CT: in scope {c['in_scope']}, {c['flagged']} flagged ({c['scope_reason']})"
        )
    print("\n".join(lines), flush=True)


def main(args: argparse.Namespace) -> dict[str, Any]:
    r = check(args)
    _print(r)
    if args.out:
        Path(args.out).write_text(json.dumps(r, indent=2) + "\n")
    return r


def register(subparsers) -> None:  # noqa: ANN001
    from training.commands import _sub

    _sub(
        subparsers,
        "realct-check",
        get_args_parser,
        "the real-CT checks of a viewer checkpoint, scored as the app scores",
    ).set_defaults(func=lambda a: 0 if main(a) else 1)
