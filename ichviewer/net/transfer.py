"""Retrieve from a PACS and send to it: C-GET of a study into a folder, C-MOVE of a study to
our own SCP, C-STORE of files. Errors are as in :mod:`ichviewer.net.query`, which re-exports
everything here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from ichviewer.net.association import _associate, _status_text
from ichviewer.net.contexts import STORAGE_CLASSES, TRANSFER_SYNTAXES
from ichviewer.net.filing import InstanceStore
from ichviewer.net.nodes import DEFAULT_AET, PacsNode, PeerError, check_aet

logger = logging.getLogger("ichviewer.net")


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
