"""Query and retrieve from a PACS, and send to it: C-ECHO, C-FIND (study root), C-GET of a
study into a folder, C-MOVE of a study to our own SCP, C-STORE of files.

Every failure is a :class:`~ichviewer.net.nodes.PeerError` whose message names the peer
(AE title at host:port) and what went wrong: not reachable, association refused, a failure
status. Matches carry patient names and IDs for the dialog that shows them; nothing here
logs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from ichviewer.net.association import STATUS_NAMES, TIMEOUT_S, _associate, _status_text
from ichviewer.net.nodes import DEFAULT_AET, PacsNode, PeerError, check_aet
from ichviewer.net.transfer import RetrieveResult, get_study, move_study, send_files

__all__ = [
    "STATUS_NAMES",
    "TIMEOUT_S",
    "RetrieveResult",
    "StudyMatch",
    "echo",
    "find_studies",
    "get_study",
    "move_study",
    "send_files",
]

logger = logging.getLogger("ichviewer.net")


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
