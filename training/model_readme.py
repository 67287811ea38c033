"""README.md of the bundled model (resources/model/README.md), written by
``python -m training build-bundled`` from the model card, the evaluation metrics and the
real-CT checks (training.realcheck): what it was trained on, how it scores on the held-out
synthetic split and on real CT, and how to rebuild it.
"""

from __future__ import annotations

import json
from typing import Any


def _f(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


#: What the project asks of the bundled model on its held-out synthetic test split.
TARGET_AUC_ANY, TARGET_AUC_SUBTYPE = 0.99, 0.97


def _targets_line(test: dict[str, Any]) -> str:
    labels = test.get("labels") or {}
    missed = [
        f"{n} {_f(m['auc'], 3)}"
        for n, m in labels.items()
        if (m["auc"] or 0) < (TARGET_AUC_ANY if n == "any" else TARGET_AUC_SUBTYPE)
    ]
    head = f"Targets: AUC >= {TARGET_AUC_ANY} for 'any', >= {TARGET_AUC_SUBTYPE} per subtype: "
    return head + ("met." if labels and not missed else "NOT met (" + ", ".join(missed) + ").")


def realcheck_lines(rc: dict[str, Any] | None) -> list[str]:
    """The issue-15 real-CT checks (training.realcheck) as README lines."""
    if not rc:
        return ["- (not run: ../shared/data/realct absent)"]
    g, m, rs, n, cq, pos = (
        rc["ge_head"],
        rc["ge_head_mirrored"],
        rc["rsna_samples"],
        rc["normal_48"],
        rc["cq500_ct0"],
        rc["rsna_positives"],
    )
    lines = [
        "| check | result | target |",
        "| --- | --- | --- |",
        f"| ge_head (normal) study-level call | {'flagged' if g['studies_flagged'] else 'not flagged'}"
        f" (P(any) {g['study_probability'][0]:.3f}) | not flagged |",
        f"| ge_head slices flagged 'any' | {g['flagged_any']} / {g['slices']} | |",
        f"| rsna_samples slices flagged 'any' | {rs['flagged_any']} / {rs['slices']} | <= 2 |",
        f"| the 48 believed-normal slices flagged 'any' | {n['flagged_any']} / {n['slices']} | <= 3 |",
        f"| ge_head mirrored: same study call | "
        f"{'yes' if bool(m['studies_flagged']) == bool(g['studies_flagged']) else 'no'} | yes |",
        f"| ge_head mirrored: 'any' flags that differ | "
        f"{rc['ge_head_mirror_any_flag_differences']} (max delta P(any) "
        f"{rc['ge_head_mirror_max_abs_delta_p_any']:.1e}) | <= 2 |",
        f"| cq500_ct0 (0.625 mm, mostly normal) slices flagged | {cq['flagged_any']} / "
        f"{cq['slices']} ({100 * cq['flagged_fraction']:.1f} %) | <= 5 % |",
        f"| rsna_positives (hemorrhage) flagged 'any' | {pos['flagged_any']} / {pos['slices']} "
        "| (no target) |",
    ]
    if "chest_ct" in rc:
        c = rc["chest_ct"]
        lines.append(
            f"| chest CT slice | {'in scope' if c['in_scope'] else 'out of scope'}, "
            f"{c['flagged']} flagged | out of scope |"
        )
    lines += ["", "The 6 real slices with hemorrhage (labels from their file names):", ""]
    lines += [
        f"- {s['sop_instance_uid']}: truth {', '.join(x for x in s['truth'] if x != 'any') or '-'};"
        f" flagged {', '.join(s['flagged']) or 'nothing'} (P(any) {s['p_any']:.3f})"
        for s in pos["slices_detail"]
    ]
    return lines


def _test_rows(test: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    rows = []
    for name, m in (test.get("labels") or {}).items():
        op = m.get("operating_point") or {}
        rows.append(
            f"| {name} | {_f(m['auc'])} | {_f(m['average_precision'])} | "
            f"{_f(thresholds[name], 3)} | {_f(op.get('sensitivity'), 3)} | "
            f"{_f(op.get('specificity'), 3)} |"
        )
    return rows


def _real_lines(real: dict[str, Any]) -> list[str]:
    """`eval`'s real-CT summaries (believed negative): what was flagged."""
    return [
        f"- {k}: {v['flagged_any']} of {v['slices']} slices flagged 'any' at its threshold, "
        f"{v.get('over_half_any', 'n/a')} with p(any) > 0.5 "
        f"(median p(any) {(v.get('median_probability') or {}).get('any', 'n/a')}, "
        f"max {v['max_probability']['any']})"
        for k, v in real.items()
    ]


def _context_lines(metrics: dict[str, Any], test: dict[str, Any]) -> list[str]:
    """The series-context section: the network on each slice alone against the viewer."""
    if not metrics.get("slice_context"):
        return []
    alone = metrics.get("test_slice_only") or {}
    alone_rows = [
        f"| {name} | {_f(m['auc'])} | {_f((test.get('labels') or {}).get(name, {}).get('auc'))} |"
        for name, m in (alone.get("labels") or {}).items()
    ]
    return [
        "## Series context",
        "",
        f"What the viewer shows is the {metrics['context_rule']}. The same test split, the "
        "network on each slice alone against the probabilities the viewer shows:",
        "",
        "| label | ROC AUC, slice alone | ROC AUC, with series context |",
        "| --- | --- | --- |",
        *alone_rows,
        "",
        f"Weighted log loss: {_f(alone.get('weighted_log_loss'))} alone, "
        f"{_f(test.get('weighted_log_loss'))} with context. A series of one slice, or a "
        "slice whose neighbours are not scored yet, gets the stage with itself as its "
        "neighbours (about the network's AUC alone).",
        "",
    ]


def _study_lines(metrics: dict[str, Any]) -> list[str]:
    """The study-level call section and the mirror-averaging note."""
    study = metrics.get("study") or {}
    lines = []
    if study:
        st, sv = study.get("test") or {}, study.get("val") or {}
        op = st.get("operating_point") or {}
        lines = [
            "## Study-level call",
            "",
            f"A study is flagged when its P(any) reaches {_f(study['threshold'], 3)}: the "
            f"{study['rule']}. Held-out synthetic test studies: AUC {_f(st.get('auc'))}, "
            f"sensitivity {_f(op.get('sensitivity'), 3)}, specificity "
            f"{_f(op.get('specificity'), 3)} ({st.get('n_positive')} of {st.get('n_studies')} "
            f"with hemorrhage; validation AUC {_f(sv.get('auc'))}).",
            "",
        ]
    if metrics.get("mirror_average"):
        lines += [
            "Each slice is scored as the mean of its own and its left-right mirror image's "
            "feature maps (`ichviewer.ai.network.mirror_averaged`), so a study and its mirror "
            "image get the same answer by construction.",
            "",
        ]
    return lines


def _header_lines(card: dict[str, Any], metrics: dict[str, Any], command: str) -> list[str]:
    """Title, the not-for-diagnosis warning, the rebuild command and what was trained."""
    splits = metrics.get("splits") or {}
    split_lines = [
        f"- {k}: {v['studies']} studies, {v['slices']} slices, {v['positive_any']} with hemorrhage"
        for k, v in splits.items()
    ]
    return [
        "# Bundled model: ichviewer-densenet.pt",
        "",
        "**Trained on synthetic head-CT phantoms only. Not for diagnostic use.** The numbers",
        "below say how well it finds the generator's hemorrhages; they say nothing about real",
        "patients. To train on real data, see `python -m training fit --help` (RSNA 2019",
        "stage_2 layout is read directly).",
        "",
        "Rebuild (the exact command; on the same hardware and thread counts the build is",
        "deterministic, on other hardware the weights come out as another draw of the recipe):",
        "",
        "```",
        command,
        "```",
        "",
        *([card["provenance"], ""] if card.get("provenance") else []),
        f"- Architecture: {card.get('arch')} {json.dumps(card.get('arch_kwargs'))}, "
        f"input {metrics['preprocess']['size']} px, {metrics['preprocess']['mode']} windows "
        "brain/subdural/bone",
        f"- Initialisation: {card.get('initialisation')}",
        f"- Supervision: {card.get('supervision')}",
        *([f"- Ensemble: {card['ensemble']}"] if card.get("ensemble") else []),
        *([f"- Trained on: {card['hardware']}"] if card.get("hardware") else []),
        f"- Data: {card.get('training_data')}",
        *split_lines,
        f"- Date: {card.get('date')}",
        "",
    ]


#: How to train on real data: the same for every bundled model.
_REAL_DATA_LINES = [
    "## Training on real data",
    "",
    "The same package trains on the RSNA 2019 Intracranial Hemorrhage Detection data",
    "(folder holding `stage_2_train/` and `stage_2_train.csv`; duplicate CSV rows and the",
    "12-bit images with a wrong intercept are handled), split by patient:",
    "",
    "```",
    "python -m training fit --data /data/rsna-ich --arch densenet121 --size 256 \\",
    "    --epochs 6 --batch-size 64 --output-dir runs/rsna",
    "torchrun --nproc_per_node=8 -m training fit ...   # same options, one process per GPU",
    "python -m training eval --checkpoint runs/rsna/checkpoint.pth",
    "python -m training export --checkpoint runs/rsna/checkpoint.pth --out rsna-densenet.pt",
    "```",
    "",
]


def readme_text(
    card: dict[str, Any],
    metrics: dict[str, Any],
    command: str,
    realct: dict[str, Any] | None = None,
) -> str:
    """README.md of the bundled model: how it was made and how it scores, synthetic and real."""
    test = metrics.get("test") or {}
    real = _real_lines(metrics.get("realct") or {})
    real_alone = _real_lines(metrics.get("realct_slice_only") or {})
    return "\n".join(
        [
            *_header_lines(card, metrics, command),
            "## Held-out synthetic test split (seed never used in training)",
            "",
            "As the viewer shows them"
            + (" (with the series context below)." if metrics.get("slice_context") else "."),
            "",
            f"Weighted log loss (RSNA): {_f(test.get('weighted_log_loss'))}",
            "",
            "| label | ROC AUC | average precision | threshold | sensitivity | specificity |",
            "| --- | --- | --- | --- | --- | --- |",
            *_test_rows(test, metrics.get("thresholds") or {}),
            "",
            f"Thresholds: {metrics.get('threshold_rule')}.",
            "",
            _targets_line(test),
            "",
            *_context_lines(metrics, test),
            *_study_lines(metrics),
            "## Real CT, scored as the app scores it",
            "",
            "`python -m training realct-check` on ../shared/data/realct (never trained on: it is",
            "the only real test this project has), through the viewer's own engine (mirror",
            "averaging, series context, thresholds, study-level call, scope check):",
            "",
            *realcheck_lines(realct),
            "",
            "## Real CT believed negative (no labels; flags here are false alarms)",
            "",
            "Scored by `eval` (the network and the series context, slice thresholds):",
            "",
            *(real or ["- (not evaluated: ../shared/data/realct absent)"]),
            *(
                ["", "The network on each slice alone, at its own thresholds:", "", *real_alone]
                if real_alone
                else []
            ),
            "",
            *_REAL_DATA_LINES,
        ]
    )
