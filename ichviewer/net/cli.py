"""Command-line parts of the PACS features: ``ichviewer receive``, ``ichviewer pacs
echo|find|get|send``, ``ichviewer dicom-out`` and :func:`dicom_out` for ``triage --dicom-out``.

Wired into ``ichviewer`` by ichviewer.cli (``add_receive_parser`` / ``add_pacs_parser`` /
``add_dicom_out_parser`` and their ``func``); ``python -m ichviewer.net.cli ...`` runs the
same. Progress and errors go to stderr; patient names and IDs only to stdout, and only where
asked for (``pacs find --show-patient``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ichviewer.errors import IchViewerError
from ichviewer.net.nodes import PacsConfig, PacsNode, pacs_from_config

if TYPE_CHECKING:
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.net")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def site_pacs() -> PacsConfig:
    """The ``pacs`` part of the site file (defaults when there is none)."""
    from ichviewer.site_config import site_config_path

    path = site_config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return PacsConfig()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return PacsConfig()  # the site config reader reports what is wrong with the file
    return pacs_from_config(data if isinstance(data, dict) else None)


def quiet_pynetdicom() -> None:
    """pynetdicom logs every failed connection at ERROR with its own wording; our messages
    name the peer and the cause, so on the command line only its CRITICAL lines show."""
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


# -- receive ------------------------------------------------------------------------------------
def add_receive_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "receive",
        help="DICOM storage SCP: file (and score) the studies a PACS or modality sends",
        description="Run a DICOM storage SCP (C-STORE, C-ECHO) that files each instance under "
        "DIR/<study>/<series>/<SOPInstanceUID>.dcm as received, never over one already stored. "
        "With --score each study, once no instance has arrived for --settle seconds, gets "
        "DIR/<study>/ai-report.json (the triage JSON). Stop with Ctrl+C. Not for diagnostic use.",
    )
    p.add_argument(
        "--port", type=int, default=None, help="TCP port (default: site file, else 11112)"
    )
    p.add_argument("--aet", default=None, help="our AE title (default: site file, else ICHVIEWER)")
    p.add_argument("--store", required=True, metavar="DIR", help="folder to file studies into")
    p.add_argument("--host", default="", help="address to listen on (default: all)")
    p.add_argument("--score", action="store_true", help="score each study once it settles")
    p.add_argument(
        "--settle", type=float, default=10.0, metavar="S", help="quiet seconds before scoring (10)"
    )
    p.add_argument(
        "--allow-aet",
        action="append",
        default=None,
        metavar="AET",
        help="accept only these calling AE titles (repeat; default: site file, else any)",
    )
    p.add_argument(
        "--model", default=None, metavar="CKPT", help="checkpoint (default: site/bundled)"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--no-cache", action="store_true", help="do not use the per-slice result cache")
    p.set_defaults(func=run_receive)
    return p


def run_receive(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set). 0 on a clean stop, 2 on a bad start."""
    from ichviewer.net.receiver import Receiver

    site = site_pacs()
    stop = stop or threading.Event()

    def scored(study_dir: Path, report: Path) -> None:
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
            n_flag = sum(bool(s.get("study_flagged")) for s in data.get("studies", []))
            what = "FLAGGED" if n_flag else "not flagged"
        except (OSError, ValueError):
            what = "scored"
        _say(f"scored study {study_dir.name}: {what}; report {report}")

    try:
        rx = Receiver(
            args.store,
            args.port if args.port is not None else site.port,
            args.aet or site.aet,
            host=args.host,
            allow_aets=args.allow_aet if args.allow_aet is not None else site.allow_aets,
            score=args.score,
            settle_s=args.settle,
            model=args.model,
            device=args.device,
            use_cache=not args.no_cache,
            on_study_settled=lambda d: _say(f"study {d.name} complete (settled)"),
            on_study_scored=scored,
            on_study_failed=lambda d, why: _say(f"study {d.name} not scored: {why}"),
        )
        rx.start()
    except (IchViewerError, ValueError, OSError) as exc:
        _say(f"error: {exc}")
        return 2
    allow = rx.scp.allow_aets
    _say(
        f"receiving as {rx.scp.aet} on port {rx.port} into {rx.store_dir}"
        f"{' (scoring after ' + format(args.settle, 'g') + ' s quiet)' if args.score else ''}"
        f"{'; accepting ' + ', '.join(allow) if allow else ''}. Ctrl+C stops."
    )
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        rx.stop()
        _say(f"stopped: {rx.scp.n_stored} instance(s) stored, {rx.scp.n_refused} refused")
    return 0


# -- pacs ---------------------------------------------------------------------------------------
def _node_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", help="a PACS node named in the site file")
    p.add_argument("--host", help="PACS host (instead of --node)")
    p.add_argument("--port", type=int, help="PACS port (instead of --node)")
    p.add_argument("--aec", help="PACS AE title (instead of --node)")
    p.add_argument("--aet", help="our calling AE title (default: site file, else ICHVIEWER)")


def _node(args: argparse.Namespace, site: PacsConfig) -> PacsNode:
    if args.node:
        return site.node(args.node)
    if args.host and args.port and args.aec:
        return PacsNode(aet=args.aec, host=args.host, port=args.port)
    if len(site.nodes) == 1 and not (args.host or args.port or args.aec):
        return site.nodes[0]
    raise IchViewerError("name a PACS: --node NAME (site file) or --host H --port P --aec AET")


def add_pacs_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "pacs", help="query, retrieve from and send to a PACS (C-ECHO, C-FIND, C-GET/C-MOVE)"
    )
    sub = p.add_subparsers(dest="pacs_command", required=True)
    e = sub.add_parser("echo", help="C-ECHO a PACS")
    _node_args(e)
    f = sub.add_parser("find", help="find studies (C-FIND, study level)")
    _node_args(f)
    f.add_argument("--patient-id", help="patient ID (wildcards * ? allowed)")
    f.add_argument("--from", dest="date_from", metavar="YYYYMMDD", help="study date from")
    f.add_argument("--to", dest="date_to", metavar="YYYYMMDD", help="study date to")
    f.add_argument("--modality", help="modality in study, e.g. CT")
    f.add_argument("--json", action="store_true", help="JSON on stdout")
    f.add_argument("--show-patient", action="store_true", help="include patient ID and name")
    g = sub.add_parser("get", help="retrieve a study into a folder (C-GET, or C-MOVE to us)")
    _node_args(g)
    g.add_argument("study_uid", metavar="STUDY_UID")
    g.add_argument("--out", required=True, metavar="DIR", help="folder to file the study into")
    g.add_argument(
        "--move",
        action="store_true",
        help="C-MOVE to our own SCP instead of C-GET (the PACS must know our AE title)",
    )
    g.add_argument(
        "--listen-port", type=int, help="with --move: port of our SCP (default: site file)"
    )
    s = sub.add_parser("send", help="send DICOM files (C-STORE)")
    _node_args(s)
    s.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run_pacs)
    return p


def run_pacs(args: argparse.Namespace) -> int:
    from ichviewer.net import query

    site = site_pacs()
    try:
        node = _node(args, site)
        aet = args.aet or site.aet
        if args.pacs_command == "echo":
            query.echo(node, calling_aet=aet)
            _say(f"C-ECHO {node}: ok")
        elif args.pacs_command == "find":
            matches = query.find_studies(
                node,
                patient_id=args.patient_id,
                date_from=args.date_from,
                date_to=args.date_to,
                modality=args.modality,
                calling_aet=aet,
            )
            rows = [m.to_dict(with_patient=args.show_patient) for m in matches]
            if args.json:
                print(json.dumps({"node": node.to_dict(), "studies": rows}, indent=2))
            else:
                for r in rows:
                    pat = f"  {r['patient_id']}  {r['patient_name']}" if args.show_patient else ""
                    print(
                        f"{r['study_instance_uid']}  {r['study_date']}  "
                        f"{'/'.join(r['modalities'])}  {r['n_instances'] or '?'} images  "
                        f"{r['study_description']}{pat}"
                    )
                _say(f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} on {node}")
        elif args.pacs_command == "get":
            return _run_get(args, node, aet, site)
        elif args.pacs_command == "send":
            sent = query.send_files(node, args.files, calling_aet=aet)
            _say(f"sent {len(sent)} file(s) to {node}")
    except (IchViewerError, ValueError) as exc:
        _say(f"error: {exc}")
        return 2
    return 0


def _run_get(args: argparse.Namespace, node: PacsNode, aet: str, site: PacsConfig) -> int:
    from ichviewer.net import query

    if not args.move:
        res = query.get_study(node, args.study_uid, args.out, calling_aet=aet)
        _say(
            f"C-GET from {node}: {len(res.files)} new file(s), {res.duplicates} already there, "
            f"{res.failed} failed, in {res.study_dir}"
        )
        for why in sorted(set(res.refused)):
            _say(f"  refused: {why}")
        return 0 if (res.files or res.duplicates) else 2
    from ichviewer.net.store import StorageSCP

    scp = StorageSCP(args.out, args.listen_port or site.port, aet, allow_aets=[node.aet])
    scp.start()
    try:
        res = query.move_study(node, args.study_uid, aet, calling_aet=aet)
    finally:
        scp.stop()
    _say(
        f"C-MOVE from {node} to {aet}: {res.completed} completed, {res.failed} failed; "
        f"{scp.n_stored} new file(s) in {scp.store.study_dir(args.study_uid)}"
    )
    return 0 if res.completed else 2


# -- DICOM results ------------------------------------------------------------------------------
def dicom_out(
    report: Mapping[str, Any],
    study_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    predictor: Predictor | None = None,
    model: str | Path | None = None,
    device: str = "auto",
    send_to: PacsNode | None = None,
    calling_aet: str | None = None,
) -> list[Path]:
    """``triage --dicom-out``: SR, KOS and heatmap captures of a report's flagged slices
    under ``out_dir``; sent to ``send_to`` when given. The heatmaps come from ``predictor``,
    else from the report's model (``model`` or ``report['model']['path']``), which must be
    the checkpoint the report names (same SHA-256). Returns the files written."""
    from ichviewer.net.results import write_dicom_results

    if predictor is None:
        from ichviewer.net.scoring import load_predictor

        path = model or (report.get("model") or {}).get("path")
        predictor, _ = load_predictor(path, device)
    want = (report.get("model") or {}).get("sha256")
    if want and predictor.sha256 != want:
        raise IchViewerError(
            f"the report was made with model sha256 {want[:16]}, but {predictor.name} is "
            f"{predictor.sha256[:16]}: pass --model with the report's checkpoint"
        )
    results = write_dicom_results(report, study_paths, out_dir, predictor=predictor)
    files = [f for r in results for f in r.files]
    if send_to is not None and files:
        from ichviewer.net.query import send_files

        send_files(send_to, files, calling_aet=calling_aet or site_pacs().aet)
    return files


def add_dicom_out_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "dicom-out",
        help="write a triage report as DICOM (SR, KOS, heatmap captures) in the scored study",
    )
    p.add_argument("report", metavar="REPORT.json", help="a triage JSON report or ai-report.json")
    p.add_argument("paths", nargs="+", metavar="PATH", help="the study files that were scored")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--model", metavar="CKPT", help="the report's checkpoint (default: its path)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--send", metavar="NODE", help="also C-STORE the files to this site node")
    p.set_defaults(func=run_dicom_out)
    return p


def run_dicom_out(args: argparse.Namespace) -> int:
    try:
        report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _say(f"error: cannot read report {args.report}: {exc}")
        return 2
    try:
        site = site_pacs()
        node = site.node(args.send) if args.send else None
        files = dicom_out(
            report, args.paths, args.out, model=args.model, device=args.device, send_to=node
        )
    except IchViewerError as exc:
        _say(f"error: {exc}")
        return 2
    _say(f"wrote {len(files)} DICOM file(s) under {args.out}{f', sent to {node}' if node else ''}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ichviewer.net.cli receive|pacs|dicom-out ...``"""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_pynetdicom()
    parser = argparse.ArgumentParser(prog="ichviewer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_receive_parser(sub)
    add_pacs_parser(sub)
    add_dicom_out_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
