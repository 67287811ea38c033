"""The storage SCP: C-ECHO and C-STORE, filing each instance as received (InstanceStore),
and a settle timer that says when a study has gone quiet.

What a peer sends is checked before it is kept: the dataset must decode, name the SOP class
and instance the request names, carry Study and Series Instance UIDs, and an image class must
carry pixel data. Anything else is answered with a failure status whose comment says what is
wrong; nothing stored before is touched, and the server keeps serving. A calling AE title
outside ``allow_aets`` (when given) is refused at association; the refusal is logged with the
peer's address and AE title, never patient data.

Duplicates: PS3.4 B.2.3 defines no status for an instance the SCP already holds. We keep the
first copy untouched (never overwrite what was received), drop the new one, log it, and
answer Success (0x0000) as most archives do, so a sender that retries a whole study does not
stop at the first instance it had already sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from ichviewer.net.contexts import IMAGE_STORAGE, STORAGE_CLASSES, TRANSFER_SYNTAXES
from ichviewer.net.filing import Filed, InstanceStore
from ichviewer.net.nodes import DEFAULT_AET, PeerError, check_aet, printable_aet

logger = logging.getLogger("ichviewer.net")

# C-STORE statuses (PS3.4 B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000


def _peer(assoc: Any) -> str:
    """'AE "X" at host:port' for log lines (no patient data)."""
    req = assoc.requestor
    return f'AE "{printable_aet(req.ae_title)}" at {req.address}:{req.port}'


def _status(code: int, comment: str = "") -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:64]  # LO: 64 characters
    return ds


def check_instance(ds: Dataset, sop_class: str, sop_instance: str) -> str | None:
    """Why ``ds`` cannot be kept as the instance a C-STORE request names, or None."""
    got_class = str(ds.get("SOPClassUID", "") or "")
    got_inst = str(ds.get("SOPInstanceUID", "") or "")
    if got_class != str(sop_class):
        return f"SOPClassUID {got_class or '(missing)'} != request's {sop_class}"
    if got_inst != str(sop_instance):
        return "SOPInstanceUID differs from the request's"
    for kw in ("StudyInstanceUID", "SeriesInstanceUID"):
        if not str(ds.get(kw, "") or "").strip():
            return f"{kw} is missing"
    if str(sop_class) in IMAGE_STORAGE:
        if not any(kw in ds for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            return "image SOP class without Pixel Data (7FE0,0010)"
        if not ds.get("Rows") or not ds.get("Columns"):
            return "image without Rows/Columns"
    return None


class SettleTimer:
    """Calls ``callback(key)`` once no :meth:`touch` of that key came for ``settle_s``."""

    def __init__(self, settle_s: float, callback: Callable[[Path], None]) -> None:
        if settle_s < 0:
            raise ValueError(f"settle time must be >= 0 s, got {settle_s}")
        self.settle_s = float(settle_s)
        self._callback = callback
        self._last: dict[Path, float] = {}
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="ichviewer-settle", daemon=True)
        self._thread.start()

    def touch(self, key: Path) -> None:
        with self._cv:
            self._last[key] = time.monotonic()
            self._cv.notify()

    def pending(self) -> list[Path]:
        with self._cv:
            return list(self._last)

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cv:
                if self._stop:
                    return
                now = time.monotonic()
                due = [k for k, t in self._last.items() if now - t >= self.settle_s]
                for k in due:
                    del self._last[k]
                if not due:
                    wait = min(
                        (self.settle_s - (now - t) for t in self._last.values()), default=None
                    )
                    self._cv.wait(timeout=wait)
                    continue
            for k in due:
                try:
                    self._callback(k)
                except Exception:  # noqa: BLE001 - a failing callback must not stop the timer
                    logger.exception("settle callback failed for study folder %s", k.name)


class StorageSCP:
    """A DICOM storage SCP (C-ECHO, C-STORE) filing into ``store_dir``.

    Parameters
    ----------
    store_dir : the root folder (DIR/<study>/<series>/<sop>.dcm)
    port : TCP port; 0 picks a free one (see :attr:`port` once started)
    aet : our AE title
    host : address to listen on ("" or "0.0.0.0": all interfaces)
    allow_aets : calling AE titles accepted; empty or None accepts any
    on_stored : called (study_dir, Filed) after each instance is written (also duplicates)
    """

    def __init__(
        self,
        store_dir: str | Path,
        port: int,
        aet: str = DEFAULT_AET,
        *,
        host: str = "",
        allow_aets: Iterable[str] | None = None,
        on_stored: Callable[[Path, Filed], None] | None = None,
    ) -> None:
        self.store = InstanceStore(store_dir)
        self.aet = check_aet(aet, "our AE title")
        self.host = host
        self._port = int(port)
        self.allow_aets = tuple(check_aet(a, "allowed AE title") for a in (allow_aets or ()))
        self.on_stored = on_stored
        self._server: Any = None
        self.n_stored = 0
        self.n_refused = 0

    @property
    def port(self) -> int:
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    def _make_ae(self) -> AE:
        ae = AE(ae_title=self.aet)
        ae.add_supported_context(Verification)
        for uid in STORAGE_CLASSES:
            ae.add_supported_context(uid, TRANSFER_SYNTAXES)
        if self.allow_aets:
            ae.require_calling_aet = list(self.allow_aets)
        ae.maximum_pdu_size = 0  # no limit on what we accept per PDU
        ae.network_timeout = 60  # a peer that goes silent mid-transfer is dropped after this
        return ae

    def start(self) -> None:
        """Listen (non-blocking). Raises PeerError when the port cannot be bound."""
        if self._server is not None:
            return
        handlers = [
            (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_C_ECHO, self._on_c_echo),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
        ]
        try:
            self._server = self._make_ae().start_server(
                (self.host, self._port), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            where = f"{self.host or '0.0.0.0'}:{self._port}"
            raise PeerError(
                f"cannot listen as {self.aet} on {where}: {exc.strerror or exc}"
            ) from exc
        logger.info(
            "storage SCP %s listening on %s:%d, filing into %s%s",
            self.aet,
            self.host or "0.0.0.0",
            self.port,
            self.store.root,
            f", accepting AE titles {', '.join(self.allow_aets)}" if self.allow_aets else "",
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- handlers (run on pynetdicom's association threads) ------------------------------------
    def _on_c_echo(self, event: Any) -> int:
        logger.info("C-ECHO from %s", _peer(event.assoc))
        return SUCCESS

    def _on_rejected(self, event: Any) -> None:
        self.n_refused += 1
        logger.warning(
            "refused association from %s: calling AE title not in the allowed list (%s)",
            _peer(event.assoc),
            ", ".join(self.allow_aets) or "any",
        )

    def _on_aborted(self, event: Any) -> None:
        logger.warning(
            "association with %s aborted (connection dropped?); instances already stored are kept",
            _peer(event.assoc),
        )

    def _on_c_store(self, event: Any) -> Dataset | int:
        peer = _peer(event.assoc)
        req = event.request
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            why = check_instance(ds, req.AffectedSOPClassUID, req.AffectedSOPInstanceUID)
        except Exception as exc:  # noqa: BLE001 - any bytes a peer sends; refuse this one, keep serving
            logger.warning(
                "C-STORE from %s: dataset does not decode (%s); refused", peer, type(exc).__name__
            )
            return _status(CANNOT_UNDERSTAND, "dataset does not decode")
        if why:
            logger.warning(
                "C-STORE from %s of %s refused: %s", peer, req.AffectedSOPInstanceUID, why
            )
            return _status(DATASET_DOES_NOT_MATCH, why)
        study_uid, series_uid = ds.StudyInstanceUID, ds.SeriesInstanceUID
        try:
            data = event.encoded_dataset(include_meta=True)  # the bytes as received
            filed = self.store.file(data, study_uid, series_uid, req.AffectedSOPInstanceUID)
        except OSError as exc:
            logger.error(
                "C-STORE from %s: cannot write into %s (%s); refused",
                peer,
                self.store.root,
                exc.strerror or exc,
            )
            return _status(OUT_OF_RESOURCES, "storage full or not writable")
        if filed.duplicate:
            logger.info(
                "C-STORE from %s: %s already stored in study folder %s; kept the first copy",
                peer,
                req.AffectedSOPInstanceUID,
                filed.study_dir.name,
            )
        else:
            self.n_stored += 1
            logger.info(
                "stored %s into study folder %s from %s",
                filed.path.name,
                filed.study_dir.name,
                peer,
            )
        if self.on_stored is not None:
            try:
                self.on_stored(filed.study_dir, filed)
            except Exception:  # noqa: BLE001 - a listener's bug must not fail the sender's store
                logger.exception("on_stored callback failed")
        return SUCCESS
