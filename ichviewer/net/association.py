"""Opening an association with a PACS, and naming the statuses it answers, for the query,
retrieve and send operations (:mod:`ichviewer.net.query`, :mod:`ichviewer.net.transfer`).

Every failure is a :class:`~ichviewer.net.nodes.PeerError` whose message names the peer.
"""

from __future__ import annotations

import threading
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from ichviewer.net.nodes import PacsNode, PeerError

TIMEOUT_S = 30.0


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
