"""PACS-style text in the four corners of the image, and orientation letters at the edges.

:func:`corner_lines` decides what is shown (pure, testable); :class:`CornerOverlay` draws
it as small labels over the image view that let the mouse through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.io import SeriesInfo
from ichviewer.ui.display import DisplayState
from ichviewer.ui.theme import CORNER_TEXT, DEMO_TEXT

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
DEMO_LINE = "DEMO (synthetic phantom)"


@dataclass(frozen=True)
class CornerContext:
    """Everything the corner text depends on besides the display state."""

    series: SeriesInfo | None
    index: int
    zoom: float = 1.0
    demo: bool = False
    show_patient_name: bool = False
    loaded: bool = True
    failed: bool = False


def _fmt_date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


def patient_age(s: SeriesInfo) -> str:
    """'47 y' from PatientAge (AS: '047Y', '010M', '003W', '005D'), else from the birth date
    and the study date; empty when neither says."""
    a = s.patient_age.strip().upper()
    if len(a) == 4 and a[:3].isdigit() and a[3] in "YMWD":
        return f"{int(a[:3])} {a[3].lower()}"
    b, d = s.patient_birth_date.strip(), s.study_date.strip()
    if len(b) == 8 and len(d) == 8 and b.isdigit() and d.isdigit():
        years = int(d[:4]) - int(b[:4]) - int(d[4:] < b[4:])  # before the birthday
        if 0 <= years < 150:
            return f"{years} y"
    return ""


def patient_lines(s: SeriesInfo) -> list[str]:
    """The patient context: name, then 'MRN 123 · 47 y · F' (what the header gives)."""
    out = []
    name = " ".join(p for p in s.patient_name.replace("^", " ").split() if p)
    if name:
        out.append(name)
    sex = s.patient_sex.strip().upper()
    details = [
        f"MRN {s.patient_id.strip()}" if s.patient_id.strip() else "",
        patient_age(s),
        sex if sex in ("M", "F", "O") else "",
    ]
    if any(details):
        out.append(" · ".join(d for d in details if d))
    return out


def corner_lines(ctx: CornerContext, state: DisplayState) -> dict[str, list[str]]:
    """The lines of each corner (plain text; the overlay escapes it)."""
    out: dict[str, list[str]] = {c: [] for c in CORNERS}
    s = ctx.series
    out["bottom_left"].append(state.describe())
    if s is None:
        return out
    tl = out["top_left"]
    if ctx.demo:
        tl.append(DEMO_LINE)
    if ctx.show_patient_name:  # the patient context: shown only where a reading room asks
        tl.extend(patient_lines(s))
    if s.study_date:
        tl.append(f"Study {_fmt_date(s.study_date)}")
    num = f"Se {s.series_number}: " if s.series_number is not None else ""
    tl.append(f"{num}{s.description}")

    n = s.n_slices
    i = min(max(ctx.index, 0), n - 1)
    ref = s.slices[i]
    tr = out["top_right"]
    status = " (loading)" if not ctx.loaded else " (unreadable)" if ctx.failed else ""
    tr.append(f"Im {i + 1}/{n}{status}")
    if s.sorted_by == "position":
        tr.append(f"Pos {ref.position_mm:.1f} mm")
    if ref.ipp is not None:
        tr.append(f"z {ref.ipp[2]:.1f} mm (IPP)")
    thick = ref.slice_thickness or s.slice_thickness
    if thick:
        tr.append(f"Thk {thick:g} mm")
    if abs(s.tilt_deg) >= 0.05:
        tr.append(f"Tilt {s.tilt_deg:.1f}°")

    br = out["bottom_right"]
    ps = ref.pixel_spacing or s.pixel_spacing
    if ps is not None:
        br.append(f"{ps[0]:.3g} x {ps[1]:.3g} mm/px")
    else:
        br.append("pixel spacing unknown")
    br.append(f"{s.columns} x {s.rows}  Zoom {ctx.zoom:.2f}")
    return out


_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))  # patient LPS axes: -x/+x, -y/+y, -z/+z


def direction_letter(v: Sequence[float]) -> str:
    """Patient direction of a unit vector, main axis first ('L', 'P', 'HP', ...)."""
    a = np.asarray(v, dtype=float)
    order = np.argsort(-np.abs(a))
    letters = [_LETTERS[k][1 if a[k] > 0 else 0] for k in order if abs(a[k]) > 0.25]
    return "".join(letters[:2])


def orientation_labels(iop: Sequence[float] | None) -> dict[str, str]:
    """Letters for the left/right/top/bottom image edges from ImageOrientationPatient."""
    if iop is None or len(iop) != 6:
        return {"left": "", "right": "", "top": "", "bottom": ""}
    row = np.asarray(iop[:3], dtype=float)  # direction of increasing column: screen right
    col = np.asarray(iop[3:], dtype=float)  # direction of increasing row: screen down
    return {
        "left": direction_letter(-row),
        "right": direction_letter(row),
        "top": direction_letter(-col),
        "bottom": direction_letter(col),
    }


class CornerOverlay(QtCore.QObject):
    """Labels in the corners and at the edge midpoints of ``host``; they ignore the mouse.

    Plain text, set only when it changes: during a W/L drag only the bottom-left label is
    redrawn. The demo warning is a separate amber label above the top-left text.
    """

    MARGIN = 6
    EDGES = ("left", "right", "top", "bottom")

    def __init__(self, host: QtWidgets.QWidget) -> None:
        super().__init__(host)
        self._host = host
        font = QtGui.QFont(host.font())
        font.setPointSizeF(9.0)
        self.labels: dict[str, QtWidgets.QLabel] = {}
        for name in (*CORNERS, *self.EDGES, "banner"):
            lab = QtWidgets.QLabel(host)
            lab.setObjectName(f"corner_{name}")
            lab.setFont(font)
            lab.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            colour = DEMO_TEXT if name == "banner" else CORNER_TEXT
            weight = "bold" if name == "banner" else "normal"
            lab.setStyleSheet(f"color: {colour}; font-weight: {weight}; background: transparent;")
            if name.endswith("right"):
                lab.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight)
            self.labels[name] = lab
        self.labels["banner"].hide()
        host.installEventFilter(self)

    def set_lines(self, lines: dict[str, list[str]]) -> None:
        texts = {c: list(lines.get(c, [])) for c in CORNERS}
        banner = ""
        if texts["top_left"][:1] == [DEMO_LINE]:
            banner = texts["top_left"].pop(0)
        changed = self._set_text("banner", banner)
        for corner in CORNERS:
            changed |= self._set_text(corner, "\n".join(texts[corner]))
        if changed:
            self._layout()

    def set_orientation(self, letters: dict[str, str]) -> None:
        changed = False
        for edge in self.EDGES:
            changed |= self._set_text(edge, letters.get(edge, ""))
        if changed:
            self._layout()

    def text(self, name: str) -> str:
        """Text of a corner or edge label; the top-left includes the demo banner."""
        t = self.labels[name].text()
        banner = self.labels["banner"].text()
        return f"{banner}\n{t}" if name == "top_left" and banner else t

    def _set_text(self, name: str, text: str) -> bool:
        lab = self.labels[name]
        if lab.text() == text:
            return False
        lab.setText(text)
        if name == "banner":
            lab.setVisible(bool(text))
        return True

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self._host and event.type() == QtCore.QEvent.Type.Resize:
            self._layout()
        return False

    def _layout(self) -> None:
        w, h, m = self._host.width(), self._host.height(), self.MARGIN
        banner = self.labels["banner"]
        below_banner = banner.sizeHint().height() if banner.text() else 0
        for name, lab in self.labels.items():
            lab.adjustSize()
            lw, lh = lab.width(), lab.height()
            x, y = (w - lw) // 2, (h - lh) // 2  # edge letters sit mid-edge
            if name.endswith("left") or name == "banner":
                x = m
            elif name.endswith("right"):
                x = w - lw - m
            if name.startswith("top") or name == "banner":
                y = m + (below_banner if name == "top_left" else 0)
            elif name.startswith("bottom"):
                y = h - lh - m
            lab.move(x, y)
            lab.raise_()
