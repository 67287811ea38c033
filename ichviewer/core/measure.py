"""Measurements a reader makes on a slice: rulers, ROIs with HU statistics, ABC/2 volume.

Coordinates
-----------
Every point is ``(x, y)`` = ``(column, row)`` in the pixels of the view it was drawn on
(the axial slice, or a reformat from :mod:`ichviewer.core.mpr`), as floats, with the
**centre** of pixel ``[row, col]`` at ``(col, row)`` (numpy / DICOM convention). Image
items that put pixel ``i`` on ``[i, i + 1)`` (pyqtgraph's ``ImageItem``) are half a pixel
off: subtract 0.5 from their scene coordinates before building a measurement.

``pixel_spacing`` is always DICOM order ``(row_spacing, column_spacing)`` in mm: the
distance between rows (along y), then between columns (along x).

Every measurement is a frozen dataclass that turns into a plain JSON dict (``to_json``)
and back (``from_json``); :class:`Measurements` holds a list of them for one series and
validates what it reads, so a hand-edited or foreign file gives a ValueError that names
the item and field at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ichviewer.core.measure_shapes import (
    PLANES,
    EllipseROI,
    Point,
    PolygonROI,
    RoiStats,
    Ruler,
    _check_kind,
    _int,
    _number,
    _require,
    angle_between_deg,
    roi_stats,
)

__all__ = [
    "KINDS",
    "MEASUREMENTS_FORMAT",
    "MEASUREMENTS_VERSION",
    "PLANES",
    "EllipseROI",
    "HematomaVolume",
    "Measurement",
    "Measurements",
    "Point",
    "PolygonROI",
    "RoiStats",
    "Ruler",
    "abc_over_2",
    "angle_between_deg",
    "measurement_from_json",
    "roi_stats",
    "slab_length_mm",
]

MEASUREMENTS_FORMAT = "ichviewer-measurements"
MEASUREMENTS_VERSION = 1


# --------------------------------------------------------------------------- ABC/2


def abc_over_2(a_mm: float, b_mm: float, c_mm: float) -> float:
    """Hematoma volume by the ABC/2 rule (Kothari et al., Stroke 1996) in mL.

    A, B, C are diameters in mm; A*B*C/2 (mm^3) / 1000 = mL. It is the ellipsoid volume
    pi/6 * A*B*C with pi taken as 3, so it reads about 4.5% low on a true ellipsoid.
    """
    vals = []
    for name, v in (("A", a_mm), ("B", b_mm), ("C", c_mm)):
        x = _number(v, f"ABC/2 {name}")
        if x < 0:
            raise ValueError(f"ABC/2 {name}: must be >= 0 mm, got {v!r}")
        vals.append(x)
    a, b, c = vals
    return a * b * c / 2.0 / 1000.0


def slab_length_mm(positions_mm: Sequence[float], first: int, last: int) -> float:
    """Length along the stack covered by slices ``first..last`` (inclusive), in mm.

    Each slice stands for the stretch half-way to its neighbours (the end slices of the
    series for the same length on their open side), so on evenly spaced slices this is
    exactly ``(last - first + 1) * spacing``, Kothari's "number of slices x slice
    thickness" for contiguous slices, and on uneven spacing it follows the real positions.
    A single-slice series has no spacing: its length is 0.
    """
    pos = np.asarray(positions_mm, dtype=np.float64)
    n = pos.size
    if not 0 <= first <= last < n:
        raise ValueError(f"slices {first}..{last} are not within the series' 0..{n - 1}")
    if n < 2:
        return 0.0
    gaps = np.abs(np.diff(pos))

    def gap(i: int) -> float:  # gap between slices i and i+1, mirrored at the ends
        return float(gaps[min(max(i, 0), n - 2)])

    return abs(float(pos[last] - pos[first])) + gap(first - 1) / 2.0 + gap(last) / 2.0


@dataclass(frozen=True)
class HematomaVolume:
    """ABC/2 from three caliper measurements (Kothari 1996).

    * ``a``: the longest diameter of the hemorrhage on the slice where it is largest;
    * ``b``: the longest diameter perpendicular to A on that same slice;
    * C: the craniocaudal extent, from the first to the last slice with blood
      (``first_index``..``last_index``, inclusive): the number of those slices times the
      slice spacing, taken from the real slice positions (see :func:`slab_length_mm`), so
      uneven spacing and gaps are honoured. Kothari's weighting of partial slices (a slice
      with 25-75% of the largest area counting as half) is left to the reader: choose
      ``first_index``/``last_index`` accordingly, or give ``c_mm`` directly.

    ``c_mm`` (optional) overrides C, e.g. when measured on a coronal reformat.
    """

    kind: ClassVar[str] = "abc2"

    a: Ruler
    b: Ruler
    first_index: int
    last_index: int
    c_mm: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.a, Ruler) or not isinstance(self.b, Ruler):
            raise ValueError("abc2: A and B must be rulers")
        if self.a.index != self.b.index or self.a.plane != self.b.plane:
            raise ValueError(
                f"abc2: A and B must lie on the same slice, got {self.a.plane} "
                f"{self.a.index} and {self.b.plane} {self.b.index}"
            )
        first = _int(self.first_index, "abc2.first_index")
        last = _int(self.last_index, "abc2.last_index")
        if first > last:
            raise ValueError(f"abc2: first slice {first} is after last slice {last}")
        if not first <= self.a.index <= last:
            raise ValueError(
                f"abc2: A and B (slice {self.a.index}) must lie within slices {first}..{last}"
            )
        if self.c_mm is not None:
            c = _number(self.c_mm, "abc2.c_mm")
            if c < 0:
                raise ValueError(f"abc2.c_mm: must be >= 0, got {self.c_mm!r}")
            object.__setattr__(self, "c_mm", c)

    @property
    def index(self) -> int:
        """The slice A and B were drawn on (where the measurement is shown)."""
        return self.a.index

    @property
    def plane(self) -> str:
        return self.a.plane

    def diameters_mm(
        self, pixel_spacing: Sequence[float], positions_mm: Sequence[float]
    ) -> tuple[float, float, float]:
        """(A, B, C) in mm."""
        c = (
            self.c_mm
            if self.c_mm is not None
            else slab_length_mm(positions_mm, self.first_index, self.last_index)
        )
        return self.a.length_mm(pixel_spacing), self.b.length_mm(pixel_spacing), c

    def volume_ml(self, pixel_spacing: Sequence[float], positions_mm: Sequence[float]) -> float:
        """ABC/2 in mL, with ``positions_mm`` the series' slice positions along its normal."""
        return abc_over_2(*self.diameters_mm(pixel_spacing, positions_mm))

    def perpendicularity_deg(self, pixel_spacing: Sequence[float]) -> float:
        """Angle between A and B in mm space (90 when drawn as the method asks)."""
        return angle_between_deg(self.a, self.b, pixel_spacing)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "first_index": self.first_index,
            "last_index": self.last_index,
            "c_mm": self.c_mm,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "abc2") -> HematomaVolume:
        _check_kind(data, cls.kind, where)
        c = data.get("c_mm")
        try:
            return cls(
                a=Ruler.from_json(_require(data, "a", where), f"{where}.a"),
                b=Ruler.from_json(_require(data, "b", where), f"{where}.b"),
                first_index=_int(_require(data, "first_index", where), f"{where}.first_index"),
                last_index=_int(_require(data, "last_index", where), f"{where}.last_index"),
                c_mm=None if c is None else _number(c, f"{where}.c_mm"),
            )
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


Measurement = Ruler | EllipseROI | PolygonROI | HematomaVolume
KINDS: dict[str, type] = {c.kind: c for c in (Ruler, EllipseROI, PolygonROI, HematomaVolume)}


def measurement_from_json(data: Any, where: str = "measurement") -> Measurement:
    """One measurement from its JSON dict, by its ``kind``."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"{where}.kind: expected one of {sorted(KINDS)}, got {kind!r}")
    try:
        return cls.from_json(data, where)
    except ValueError as exc:
        msg = str(exc)
        # Constructors name fields by kind ("ruler.p0"); say which item it was.
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


# --------------------------------------------------------------------------- container


class Measurements:
    """The measurements of one series, in the order they were made.

    Plain list semantics (``len``, iteration, indexing); :meth:`remove` deletes by value
    (frozen dataclasses compare by value) and :meth:`pop` by position.
    """

    def __init__(
        self,
        items: Iterable[Measurement] = (),
        *,
        series_instance_uid: str = "",
        study_instance_uid: str = "",
    ) -> None:
        self._items: list[Measurement] = []
        self.series_instance_uid = series_instance_uid
        self.study_instance_uid = study_instance_uid
        for m in items:
            self.add(m)

    def add(self, item: Measurement) -> int:
        """Append ``item``; returns its position in the list."""
        if not isinstance(item, tuple(KINDS.values())):
            raise ValueError(f"not a measurement: {item!r}")
        self._items.append(item)
        return len(self._items) - 1

    def remove(self, item: Measurement) -> None:
        """Delete the first measurement equal to ``item`` (ValueError if none is)."""
        try:
            self._items.remove(item)
        except ValueError:
            raise ValueError(f"no such measurement: {item!r}") from None

    def pop(self, i: int = -1) -> Measurement:
        """Delete and return the measurement at position ``i``."""
        return self._items.pop(i)

    def clear(self) -> None:
        self._items.clear()

    def on_slice(self, index: int, plane: str = "axial") -> list[Measurement]:
        """The measurements drawn on one slice of one view."""
        return [m for m in self._items if m.index == index and m.plane == plane]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Measurement]:
        return iter(list(self._items))

    def __getitem__(self, i: int) -> Measurement:
        return self._items[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Measurements):
            return NotImplemented
        return (
            self._items == other._items
            and self.series_instance_uid == other.series_instance_uid
            and self.study_instance_uid == other.study_instance_uid
        )

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``json.dumps`` (all numbers finite)."""
        return {
            "format": MEASUREMENTS_FORMAT,
            "version": MEASUREMENTS_VERSION,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "items": [m.to_json() for m in self._items],
        }

    @classmethod
    def from_json(cls, data: Any) -> Measurements:
        """Read what :meth:`to_json` wrote (a dict, or the JSON text of one).

        Raises ValueError naming the item and field at fault: nothing is half-read.
        """
        if isinstance(data, (str, bytes)):
            import json

            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ValueError(f"measurements: not JSON ({exc})") from None
        if not isinstance(data, Mapping):
            raise ValueError(f"measurements: expected an object, got {type(data).__name__}")
        if data.get("format") != MEASUREMENTS_FORMAT:
            raise ValueError(
                f"measurements.format: expected {MEASUREMENTS_FORMAT!r}, got {data.get('format')!r}"
            )
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"measurements.version: expected an integer >= 1, got {version!r}")
        if version > MEASUREMENTS_VERSION:
            raise ValueError(
                f"measurements.version: {version} is newer than this viewer reads "
                f"({MEASUREMENTS_VERSION})"
            )
        items = data.get("items", [])
        if not isinstance(items, list):
            raise ValueError(f"measurements.items: expected a list, got {type(items).__name__}")
        uids = {}
        for key in ("study_instance_uid", "series_instance_uid"):
            v = data.get(key, "")
            if not isinstance(v, str):
                raise ValueError(f"measurements.{key}: expected a string, got {v!r}")
            uids[key] = v
        parsed = [measurement_from_json(m, f"measurements.items[{i}]") for i, m in enumerate(items)]
        return cls(parsed, **uids)
