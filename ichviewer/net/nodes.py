"""PACS nodes (AE title, host, port), our own AE settings, and what we speak on the wire.

A site file (ichviewer.site_config) may hold a ``pacs`` object::

    "pacs": {
      "aet": "ICHVIEWER",            our AE title (calling AE of queries, title of our SCP)
      "port": 11112,                 where our storage SCP listens (C-MOVE destination)
      "allow_aets": ["PACS1"],       calling AE titles our SCP accepts (absent: any)
      "nodes": [
        {"name": "main", "aet": "PACS1", "host": "pacs.example", "port": 104,
         "retrieve": "get"}         "get" (C-GET, default) or "move" (C-MOVE to our SCP)
      ]
    }

:func:`pacs_from_config` reads it like the rest of the site file: a bad entry is skipped
with a warning naming the key, never an exception, so a typo never stops the viewer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ichviewer.errors import IchViewerError

logger = logging.getLogger("ichviewer.net")

DEFAULT_AET = "ICHVIEWER"
DEFAULT_PORT = 11112
RETRIEVE_METHODS = ("get", "move")

# AE titles: up to 16 characters of the default repertoire, no backslash or control
# characters; leading/trailing spaces are not significant (PS3.5 6.2, VR AE).
_AET_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


class PeerError(IchViewerError):
    """A DICOM peer could not be reached, refused us, or answered with a failure. The
    message names the peer (AE title at host:port) and what went wrong."""


def check_aet(value: Any, what: str = "AE title") -> str:
    """``value`` as an AE title, or IchViewerError saying why it cannot be one."""
    if not isinstance(value, str) or not value.strip() or not _AET_RE.match(value):
        raise IchViewerError(
            f"{what} must be 1-16 printable characters without a backslash, got {value!r}"
        )
    return value.strip()


def check_port(value: Any, what: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise IchViewerError(f"{what} must be a TCP port number 1-65535, got {value!r}")
    return value


def printable_aet(value: Any) -> str:
    """An AE title from the wire, safe for a log line (control bytes escaped, clipped)."""
    text = value.decode("ascii", "backslashreplace") if isinstance(value, bytes) else str(value)
    return text.strip().encode("ascii", "backslashreplace").decode("ascii")[:32]


@dataclass(frozen=True)
class PacsNode:
    """A peer we query and retrieve from or send to."""

    aet: str
    host: str
    port: int
    name: str = ""
    retrieve: str = "get"  # "get" (C-GET) or "move" (C-MOVE to our own SCP)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aet", check_aet(self.aet, "PACS node AE title"))
        check_port(self.port, "PACS node port")
        if not isinstance(self.host, str) or not self.host.strip():
            raise IchViewerError(
                f"PACS node host must be a host name or address, got {self.host!r}"
            )
        if self.retrieve not in RETRIEVE_METHODS:
            raise IchViewerError(
                f"PACS node retrieve must be one of {', '.join(RETRIEVE_METHODS)}, "
                f"got {self.retrieve!r}"
            )

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PacsNode:
        if not isinstance(data, Mapping):
            raise IchViewerError(f"expected an object with aet, host and port, got {data!r}")
        missing = [k for k in ("aet", "host", "port") if k not in data]
        if missing:
            raise IchViewerError(f"missing {', '.join(missing)}")
        return cls(
            aet=data["aet"],
            host=data["host"],
            port=data["port"],
            name=str(data.get("name") or data["aet"]),
            retrieve=data.get("retrieve", "get"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aet": self.aet,
            "host": self.host,
            "port": self.port,
            "retrieve": self.retrieve,
        }


@dataclass(frozen=True)
class PacsConfig:
    """The ``pacs`` part of the site file (defaults where it says nothing)."""

    aet: str = DEFAULT_AET
    port: int = DEFAULT_PORT
    allow_aets: tuple[str, ...] = ()  # empty: any calling AE title is accepted
    nodes: tuple[PacsNode, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def node(self, name: str) -> PacsNode:
        """The node called ``name`` (or whose AE title is ``name``)."""
        for n in self.nodes:
            if name in (n.name, n.aet):
                return n
        known = ", ".join(n.name for n in self.nodes) or "none configured"
        raise IchViewerError(f"no PACS node named {name!r} (known: {known})")


def _warn(problems: list[str], key: str, why: str) -> None:
    msg = f"site config: {key}: {why}; ignored"
    problems.append(msg)
    logger.warning("%s", msg)


def pacs_from_config(data: Mapping[str, Any] | None) -> PacsConfig:
    """Read the ``pacs`` object of a site file's JSON (the whole file's dict, or the
    ``pacs`` object itself). Never raises: what is wrong is logged and skipped."""
    if not data:
        return PacsConfig()
    raw = data.get("pacs", data) if isinstance(data, Mapping) else data
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        _warn(problems, "pacs", f"expected an object, got {type(raw).__name__}")
        return PacsConfig(warnings=tuple(problems))
    aet, port = DEFAULT_AET, DEFAULT_PORT
    if "aet" in raw:
        try:
            aet = check_aet(raw["aet"], "our AE title")
        except IchViewerError as exc:
            _warn(problems, "pacs.aet", str(exc))
    if "port" in raw:
        try:
            port = check_port(raw["port"], "our port")
        except IchViewerError as exc:
            _warn(problems, "pacs.port", str(exc))
    allow: list[str] = []
    raw_allow = raw.get("allow_aets", [])
    if isinstance(raw_allow, str) or not isinstance(raw_allow, Sequence):
        _warn(problems, "pacs.allow_aets", f"expected a list of AE titles, got {raw_allow!r}")
        raw_allow = []
    for i, value in enumerate(raw_allow):
        try:
            allow.append(check_aet(value))
        except IchViewerError as exc:
            _warn(problems, f"pacs.allow_aets[{i}]", str(exc))
    nodes = nodes_from_config(raw, problems)
    return PacsConfig(
        aet=aet, port=port, allow_aets=tuple(allow), nodes=tuple(nodes), warnings=tuple(problems)
    )


def nodes_from_config(
    data: Mapping[str, Any] | None, problems: list[str] | None = None
) -> list[PacsNode]:
    """The PACS nodes of a site file's JSON (``{"pacs": {"nodes": [...]}}``, the ``pacs``
    object, or ``{"nodes": [...]}``). A bad node is skipped with a warning naming it."""
    problems = [] if problems is None else problems
    if not data:
        return []
    raw = data.get("pacs", data) if isinstance(data, Mapping) else {}
    raw_nodes = raw.get("nodes", []) if isinstance(raw, Mapping) else []
    if isinstance(raw_nodes, Mapping):  # {"name": {...}} is accepted too
        raw_nodes = [
            {"name": k, **v} if isinstance(v, Mapping) else v for k, v in raw_nodes.items()
        ]
    if isinstance(raw_nodes, str) or not isinstance(raw_nodes, Sequence):
        _warn(problems, "pacs.nodes", f"expected a list of nodes, got {raw_nodes!r}")
        return []
    nodes: list[PacsNode] = []
    for i, entry in enumerate(raw_nodes):
        try:
            node = PacsNode.from_dict(entry)
        except IchViewerError as exc:
            _warn(problems, f"pacs.nodes[{i}]", str(exc))
            continue
        if any(n.name == node.name for n in nodes):
            _warn(problems, f"pacs.nodes[{i}]", f"a second node named {node.name!r}")
            continue
        nodes.append(node)
    return nodes
