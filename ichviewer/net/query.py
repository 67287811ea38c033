"""Query and retrieve from a PACS, and send to it: C-ECHO, C-FIND (study root), C-GET of a
study into a folder, C-MOVE of a study to our own SCP, C-STORE of files.

Every failure is a :class:`~ichviewer.net.nodes.PeerError` whose message names the peer
(AE title at host:port) and what went wrong: not reachable, association refused, a failure
status. Matches carry patient names and IDs for the dialog that shows them; nothing here
logs them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from ichviewer.net.contexts import STORAGE_CLASSES, TRANSFER_SYNTAXES
from ichviewer.net.filing import InstanceStore
from ichviewer.net.nodes import DEFAULT_AET, PacsNode, PeerError, check_aet

logger = logging.getLogger("ichviewer.net")

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StudyMatch:
    """One C-FIND match (study level). ``patient_*`` are for display only."""

    study_instance_uid: str
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    modalities: tuple[str, ...] = ()
    accession_number: str = ""
    n_series: int | None = None
    n_instances: int | None = None
    patient_id: str = field(default="", repr=False)
    patient_name: str = field(default="", repr=False)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> StudyMatch:
        mods = ds.get("ModalitiesInStudy", "") or ""
        mods = [mods] if isinstance(mods, str) else list(mods)

        def _int(kw: str) -> int | None:
            v = ds.get(kw, None)
            try:
                return int(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                return None

        return cls(
            study_instance_uid=str(ds.get("StudyInstanceUID", "") or ""),
            study_date=str(ds.get("StudyDate", "") or ""),
            study_time=str(ds.get("StudyTime", "") or ""),
            study_description=str(ds.get("StudyDescription", "") or ""),
            modalities=tuple(str(m) for m in mods if m),
            accession_number=str(ds.get("AccessionNumber", "") or ""),
            n_series=_int("NumberOfStudyRelatedSeries"),
            n_instances=_int("NumberOfStudyRelatedInstances"),
            patient_id=str(ds.get("PatientID", "") or ""),
            patient_name=str(ds.get("PatientName", "") or ""),
        )

    def to_dict(self, with_patient: bool = False) -> dict[str, Any]:
        out = {
            "study_instance_uid": self.study_instance_uid,
            "study_date": self.study_date,
            "study_time": self.study_time,
            "study_description": self.study_description,
            "modalities": list(self.modalities),
            "accession_number": self.accession_number,
            "n_series": self.n_series,
            "n_instances": self.n_instances,
        }
        if with_patient:
            out.update(patient_id=self.patient_id, patient_name=self.patient_name)
        return out


@dataclass
class RetrieveResult:
    """What a C-GET or C-MOVE brought: counts from the peer's final response, and (C-GET)
    the files we stored."""

    study_dir: Path | None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    files: list[Path] = field(default_factory=list)
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)  # why sub-operations we refused failed


#: Names of the statuses a query/retrieve or storage peer commonly answers (PS3.4 C, B).
STATUS_NAMES = {
    0xA700: "out of resources",
    0xA701: "out of resources: unable to calculate number of matches",
    0xA702: "out of resources: unable to perform sub-operations",
    0xA801: "move destination unknown",
    0xA900: "identifier or data set does not match SOP class",
    0xB000: "sub-operations complete, one or more failures or warnings",
    0xC000: "unable to process",
    0xFE00: "cancelled",
}


def _status_text(status: Dataset | None) -> str:
    if status is None or "Status" not in status:
        return "no response (timed out or connection lost)"
    code = int(status.Status)
    name = STATUS_NAMES.get(code) or ("unable to process" if 0xC000 <= code <= 0xCFFF else "")
    text = f"status 0x{code:04X}{' ' + name if name else ''}"
    comment = status.get("ErrorComment", "")
    return f"{text} ({comment})" if comment else text


def _associate(
    ae: AE, node: PacsNode, ext_neg: list[Any] | None = None, handlers: list | None = None
) -> Any:
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    opened = threading.Event()
    handlers = [*(handlers or []), (evt.EVT_CONN_OPEN, lambda _e: opened.set())]
    try:
        assoc = ae.associate(
            node.host, node.port, ae_title=node.aet, ext_neg=ext_neg, evt_handlers=handlers
        )
    except (OSError, ValueError) as exc:
        raise PeerError(f"cannot reach {node}: {exc}") from exc
    if assoc.is_established:
        return assoc
    if not opened.is_set():
        raise PeerError(
            f"cannot connect to {node}: nothing answers at {node.host}:{node.port} "
            "(is the PACS running, and the host and port right?)"
        )
    if assoc.is_rejected:
        rsp = assoc.acceptor.primitive
        reason = getattr(rsp, "reason_str", "") if rsp is not None else ""
        raise PeerError(
            f"{node} refused the association from {ae.ae_title}"
            f"{': ' + reason if reason else ''} (does the PACS know our AE title "
            f"{ae.ae_title}, and is its AE title {node.aet}?)"
        )
    raise PeerError(
        f"{node} dropped the association from {ae.ae_title} before accepting it "
        "(is it a DICOM port, and does it accept our AE title?)"
    )


def echo(node: PacsNode, calling_aet: str = DEFAULT_AET) -> None:
    """C-ECHO ``node``; PeerError when it does not answer Success."""
    ae = AE(ae_title=check_aet(calling_aet, "our AE title"))
    ae.add_requested_context(Verification)
    assoc = _associate(ae, node)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status is None or status.get("Status", None) != 0:
        raise PeerError(f"C-ECHO to {node}: {_status_text(status)}")


def _date_range(date_from: str | date | None, date_to: str | date | None) -> str:
    def fmt(d: str | date | None) -> str:
        if d is None or d == "":
            return ""
        if isinstance(d, date):
            return d.strftime("%Y%m%d")
        text = str(d).replace("-", "")
        if len(text) != 8 or not text.isdigit():
            raise ValueError(f"a date must be YYYYMMDD or YYYY-MM-DD, got {d!r}")
        return text

    lo, hi = fmt(date_from), fmt(date_to)
    if not lo and not hi:
        return ""
    if lo == hi:
        return lo
    return f"{lo}-{hi}"


def find_studies(
    node: PacsNode,
    *,
    patient_id: str | None = None,
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    modality: str | None = None,
    study_uid: str | None = None,
    calling_aet: str = DEFAULT_AET,
    limit: int = 500,
) -> list[StudyMatch]:
    """C-FIND at STUDY level (study root). ``patient_id`` may hold wildcards (* ?);
    ``modality`` matches ModalitiesInStudy; dates are inclusive."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id or ""
    query.PatientName = ""
    query.StudyInstanceUID = study_uid or ""
    query.StudyDate = _date_range(date_from, date_to)
    query.StudyTime = ""
    query.StudyDescription = ""
    query.AccessionNumber = ""
    query.ModalitiesInStudy = modality or ""
    query.NumberOfStudyRelatedSeries = ""
    query.NumberOfStudyRelatedInstances = ""
    ae = AE(ae_title=check_aet(calling_aet, "our AE title"))
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = _associate(ae, node)
    matches: list[StudyMatch] = []
    try:
        for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        ):
            code = status.get("Status", None) if status is not None else None
            if code in (0xFF00, 0xFF01):
                if identifier is not None and len(matches) < limit:
                    matches.append(StudyMatch.from_dataset(identifier))
            elif code == 0x0000:
                break
            else:
                raise PeerError(f"C-FIND on {node}: {_status_text(status)}")
    finally:
        if assoc.is_established:
            assoc.release()
    logger.info("C-FIND on %s: %d matching studies", node, len(matches))
    return matches


def _study_identifier(study_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    return ds


def _final_counts(status: Dataset | None, result: RetrieveResult, node: PacsNode, op: str) -> None:
    if status is None or "Status" not in status:
        raise PeerError(f"{op} from {node}: {_status_text(status)}")
    result.completed = int(status.get("NumberOfCompletedSuboperations", 0) or 0)
    result.failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
    result.warning = int(status.get("NumberOfWarningSuboperations", 0) or 0)
    code = int(status.Status)
    if code not in (0x0000, 0xB000) and not (result.completed or result.files):
        raise PeerError(f"{op} from {node}: {_status_text(status)}")


def get_study(
    node: PacsNode,
    study_uid: str,
    dest_dir: str | Path,
    *,
    calling_aet: str = DEFAULT_AET,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> RetrieveResult:
    """C-GET a whole study into ``dest_dir`` (filed as DIR/<study>/<series>/<sop>.dcm,
    never over an existing file). Instances the peer sends that fail our checks are refused
    one by one and counted as failed; the rest are kept."""
    from ichviewer.net.store import check_instance

    store = InstanceStore(dest_dir)
    result = RetrieveResult(study_dir=store.study_dir(study_uid))
    ae = AE(ae_title=check_aet(calling_aet, "our AE title"))
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    # 128 presentation contexts at most: Get + one per storage class.
    for uid in STORAGE_CLASSES:
        ae.add_requested_context(uid, TRANSFER_SYNTAXES)
        roles.append(build_role(uid, scp_role=True))

    def on_store(event: Any) -> int:
        req = event.request
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            why = check_instance(ds, req.AffectedSOPClassUID, req.AffectedSOPInstanceUID)
        except Exception:  # noqa: BLE001 - whatever the peer sent; refuse it, keep the rest
            why = "dataset does not decode"
        if why:
            result.refused.append(why)
            return 0xA900
        try:
            filed = store.file(
                event.encoded_dataset(include_meta=True),
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                req.AffectedSOPInstanceUID,
            )
        except OSError as exc:
            result.refused.append(f"cannot write into {store.root}: {exc.strerror or exc}")
            return 0xA700
        if filed.duplicate:
            result.duplicates += 1
        else:
            result.files.append(filed.path)
        if on_progress is not None:
            on_progress(len(result.files) + result.duplicates, None)
        return 0x0000

    assoc = _associate(ae, node, ext_neg=roles, handlers=[(evt.EVT_C_STORE, on_store)])
    last: Dataset | None = None
    try:
        for status, _ in assoc.send_c_get(
            _study_identifier(study_uid), StudyRootQueryRetrieveInformationModelGet
        ):
            last = status
            if status is not None and status.get("Status", None) == 0xFF00 and on_progress:
                remaining = status.get("NumberOfRemainingSuboperations", None)
                done = len(result.files) + result.duplicates
                on_progress(done, None if remaining is None else done + int(remaining))
    finally:
        if assoc.is_established:
            assoc.release()
    _final_counts(last, result, node, "C-GET")
    logger.info(
        "C-GET from %s: %d stored, %d already there, %d failed",
        node,
        len(result.files),
        result.duplicates,
        result.failed,
    )
    return result


def move_study(
    node: PacsNode,
    study_uid: str,
    dest_aet: str,
    *,
    calling_aet: str = DEFAULT_AET,
) -> RetrieveResult:
    """C-MOVE a whole study to ``dest_aet`` (our own running SCP; the PACS must know that
    AE title's host and port). Returns the peer's counts."""
    ae = AE(ae_title=check_aet(calling_aet, "our AE title"))
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = _associate(ae, node)
    last: Dataset | None = None
    try:
        for status, _ in assoc.send_c_move(
            _study_identifier(study_uid),
            check_aet(dest_aet, "move destination AE title"),
            StudyRootQueryRetrieveInformationModelMove,
        ):
            last = status
    finally:
        if assoc.is_established:
            assoc.release()
    result = RetrieveResult(study_dir=None)
    try:
        _final_counts(last, result, node, f"C-MOVE to {dest_aet}")
    except PeerError as exc:
        raise PeerError(
            f"{exc} (does the PACS know the destination {dest_aet}, with the host and port "
            "of our receiver, and is the receiver running?)"
        ) from None
    logger.info(
        "C-MOVE from %s to %s: %d completed, %d failed",
        node,
        dest_aet,
        result.completed,
        result.failed,
    )
    return result


def send_files(
    node: PacsNode,
    paths: Iterable[str | Path],
    *,
    calling_aet: str = DEFAULT_AET,
) -> list[Path]:
    """C-STORE each file to ``node`` in one association. Returns the files sent; raises
    PeerError naming the first file the peer refused (and why)."""
    files = [Path(p) for p in paths]
    datasets: list[tuple[Path, Dataset]] = []
    for p in files:
        try:
            datasets.append((p, pydicom.dcmread(p)))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise PeerError(
                f"cannot send {p} to {node}: not a readable DICOM file ({exc})"
            ) from exc
    ae = AE(ae_title=check_aet(calling_aet, "our AE title"))
    pairs = sorted(
        {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _, ds in datasets}
    )
    if len(pairs) > 128:
        raise PeerError(f"too many kinds of file to send to {node} in one association")
    for sop, ts in pairs:
        ae.add_requested_context(sop, ts)
    assoc = _associate(ae, node)
    sent: list[Path] = []
    try:
        for p, ds in datasets:
            try:
                status = assoc.send_c_store(ds)
            except ValueError as exc:  # no accepted presentation context for it
                raise PeerError(f"{node} does not accept {p.name}: {exc}") from exc
            code = status.get("Status", None) if status is not None else None
            if code is None or (code != 0 and not 0xB000 <= code <= 0xBFFF):
                raise PeerError(f"C-STORE of {p.name} to {node}: {_status_text(status)}")
            sent.append(p)
    finally:
        if assoc.is_established:
            assoc.release()
    logger.info("C-STORE to %s: %d file(s) sent", node, len(sent))
    return sent
