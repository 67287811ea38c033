"""What the user can know about the model: name, SHA-256, training data, metrics from its
card, intended use. Shown in a dialog (AI > Model information…) and in the About box."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

from PySide6 import QtCore, QtWidgets

from ichviewer.ai.engine import ModelInfo
from ichviewer.core.labels import LABELS

_METRIC_COLUMNS = (
    ("auc", "ROC AUC"),
    ("average_precision", "AP"),
    ("threshold", "threshold"),
    ("sensitivity", "sens."),
    ("specificity", "spec."),
)


def _e(x: object) -> str:
    return html.escape(str(x))


def _num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else _e(v)


def metrics_html(metrics: Mapping[str, Any]) -> str:
    """Per-label tables for splits shaped like training's metrics (``labels`` -> auc, ...),
    key: value lines for anything else."""
    if not metrics:
        return "<p><i>The model card lists no metrics.</i></p>"
    out = []
    for split, m in metrics.items():
        if isinstance(m, Mapping) and isinstance(m.get("labels"), Mapping):
            head = "".join(f"<th>{_e(t)}</th>" for _k, t in _METRIC_COLUMNS)
            rows = []
            for lb in LABELS:
                d = dict(m["labels"].get(lb, {}))
                d.update(d.get("operating_point", {}) or {})
                rows.append(
                    f"<tr><td>{_e(lb)}</td>"
                    + "".join(
                        f"<td align='right'>{_num(d.get(k, ''))}</td>" for k, _ in _METRIC_COLUMNS
                    )
                    + "</tr>"
                )
            extra = ", ".join(
                f"{_e(k)} {_num(v)}" for k, v in m.items() if isinstance(v, (int, float, str))
            )
            out.append(
                f"<p><b>{_e(split)}</b> {extra}</p><table cellspacing='4'>"
                f"<tr><th></th>{head}</tr>{''.join(rows)}</table>"
            )
        elif isinstance(m, Mapping):
            flat = ", ".join(
                f"{_e(k)}: {_num(v)}" for k, v in m.items() if not isinstance(v, Mapping)
            )
            out.append(f"<p><b>{_e(split)}</b> {flat or '(nested values; see the card file)'}</p>")
        else:
            out.append(f"<p><b>{_e(split)}</b>: {_num(m)}</p>")
    return "".join(out)


def short_metrics_html(metrics: Mapping[str, Any]) -> str:
    """One line per split of the card's headline numbers (e.g. mean AUC, log loss)."""
    lines = []
    for split, m in metrics.items():
        if isinstance(m, Mapping):
            nums = ", ".join(
                f"{_e(k)} {_num(v)}" for k, v in m.items() if isinstance(v, (int, float))
            )
            if nums:
                lines.append(f"{_e(split)}: {nums}")
    return "<br>".join(lines) or "none listed in the model card"


def model_summary_html(info: ModelInfo | None, status: str = "", *, metrics: bool = True) -> str:
    """The model block of the model panel (``metrics``: full tables) and of the About box
    (headline numbers only)."""
    if info is None:
        return f"<p><b>AI model:</b> {_e(status or 'not loaded yet')}</p>"
    card = info.card
    kind = _e(card.get("training_data", "not stated"))
    if info.synthetic:
        kind += " <span style='color:#ffb000'>(synthetic phantoms: no real CT)</span>"
    rows = [
        ("Checkpoint", f"{_e(info.name)} {_e(card.get('version', ''))} ({_e(info.arch)})"),
        ("SHA-256", f"<code>{_e(info.sha256)}</code>"),
        ("File", _e(info.path)),
        ("Training data", kind),
        ("Date", _e(card.get("date", ""))),
        ("Intended use", f"<b>{_e(card.get('intended_use', 'not stated'))}</b>"),
        ("Runs on", _e(", ".join(f"{k} {v}" for k, v in info.runtime.items() if v is not None))),
        (
            "Thresholds in use",
            _e(", ".join(f"{lb} {t:.3f}" for lb, t in zip(LABELS, info.thresholds, strict=True)))
            + f" <i>({_e(info.threshold_source)})</i>",
        ),
    ]
    rows.append(
        (
            "Series context",
            _e(
                "each slice's probabilities are revised with the network's outputs on the "
                "slices " + " and ".join(f"±{d:g} mm" for d in info.context_mm) + " away "
                "(fitted on the validation split); the heatmap is the slice's own"
            )
            if info.context_mm
            else "none: every slice is scored on its own",
        )
    )
    members = int(info.runtime.get("members") or 1)
    if members > 1:
        rows.append(
            (
                "Ensemble",
                _e(
                    card.get("ensemble")
                    or f"the mean of {members} networks' activation maps (one heatmap)"
                ),
            )
        )
    if card.get("limitations"):
        rows.append(("Limitations", _e(card["limitations"])))
    if card.get("retrain"):
        rows.append(("Real data", _e(card["retrain"])))
    if not metrics:
        rows.append(("Metrics", short_metrics_html(card.get("metrics", {}))))
    table = "".join(f"<tr><td valign='top'><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    body = f"<table cellspacing='3'>{table}</table>"
    if metrics:
        body += "<h4>Metrics (from the model card)</h4>" + metrics_html(card.get("metrics", {}))
    return body + "<p><b>Not for diagnostic use.</b></p>"


def model_dialog(
    parent: QtWidgets.QWidget | None,
    info: ModelInfo | None,
    status: str,
    on_load: Callable[[], object] | None = None,
) -> QtWidgets.QDialog:
    """A non-modal window with the model's card; "Load model…" picks another checkpoint."""
    dlg = QtWidgets.QDialog(parent)
    dlg.setObjectName("model_dialog")
    dlg.setWindowTitle("AI model")
    dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    text = QtWidgets.QTextBrowser(dlg)
    text.setObjectName("model_text")
    text.setOpenExternalLinks(False)
    text.setHtml(model_summary_html(info, status))
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, dlg)
    buttons.rejected.connect(dlg.close)
    if on_load is not None:
        load = buttons.addButton("Load model…", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        load.clicked.connect(lambda: (dlg.close(), on_load()))
    lay = QtWidgets.QVBoxLayout(dlg)
    lay.addWidget(text)
    lay.addWidget(buttons)
    dlg.resize(720, 560)
    return dlg
