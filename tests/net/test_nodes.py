"""PACS node configuration and the filing of received instances (no network)."""

from __future__ import annotations

import logging

import pytest

from ichviewer.errors import IchViewerError
from ichviewer.net.filing import InstanceStore, safe_name
from ichviewer.net.nodes import PacsNode, nodes_from_config, pacs_from_config


class TestNodesFromConfig:
    def test_reads_nodes_of_the_site_file(self):
        site = {
            "model": "x.pt",
            "pacs": {
                "aet": "READROOM1",
                "port": 11112,
                "allow_aets": ["PACS1"],
                "nodes": [
                    {"name": "main", "aet": "PACS1", "host": "pacs.local", "port": 104},
                    {"aet": "ARCH", "host": "10.0.0.2", "port": 11112, "retrieve": "move"},
                ],
            },
        }
        nodes = nodes_from_config(site)
        assert nodes == [
            PacsNode("PACS1", "pacs.local", 104, name="main"),
            PacsNode("ARCH", "10.0.0.2", 11112, name="ARCH", retrieve="move"),
        ]
        cfg = pacs_from_config(site)
        assert (cfg.aet, cfg.port, cfg.allow_aets) == ("READROOM1", 11112, ("PACS1",))
        assert cfg.node("main").host == "pacs.local"
        assert str(cfg.node("ARCH")) == "ARCH@10.0.0.2:11112"

    def test_bad_entries_are_skipped_with_a_warning_naming_them(self, caplog):
        site = {
            "pacs": {
                "aet": "WAY-TOO-LONG-AE-TITLE",
                "allow_aets": ["OK", "BAD\\AET"],
                "nodes": [
                    {"name": "noport", "aet": "A", "host": "h"},
                    {"name": "badport", "aet": "A", "host": "h", "port": 70000},
                    {"name": "good", "aet": "A", "host": "h", "port": 104},
                    {"name": "good", "aet": "B", "host": "h", "port": 105},
                    "not an object",
                ],
            }
        }
        with caplog.at_level(logging.WARNING, logger="ichviewer"):
            cfg = pacs_from_config(site)
        assert cfg.aet == "ICHVIEWER"  # the default, the bad one named in a warning
        assert cfg.allow_aets == ("OK",)
        assert [n.name for n in cfg.nodes] == ["good"]
        text = "\n".join(cfg.warnings)
        for key in ("pacs.aet", "pacs.allow_aets[1]", "pacs.nodes[0]", "pacs.nodes[1]"):
            assert key in text
        assert "missing port" in text and "70000" in text and "second node" in text

    def test_no_pacs_section_means_defaults(self):
        assert nodes_from_config({}) == []
        assert pacs_from_config(None).nodes == ()
        with pytest.raises(IchViewerError, match="no PACS node named 'x'"):
            pacs_from_config({}).node("x")


class TestSafeName:
    def test_plain_uids_are_kept(self):
        assert safe_name("1.2.840.113619.2.55.3") == "1.2.840.113619.2.55.3"

    @pytest.mark.parametrize("bad", ["../../etc", "DOE^JANE", "1.2/3", "1." + "2" * 80, "", None])
    def test_anything_else_is_hashed(self, bad):
        name = safe_name(bad)
        assert name.startswith("x") and len(name) == 33 and name.isalnum()


class TestInstanceStore:
    def test_files_by_study_and_series_and_never_overwrites(self, tmp_path):
        store = InstanceStore(tmp_path)
        first = store.file(b"first", "1.2.3", "1.2.3.4", "1.2.3.4.5")
        assert first.path == tmp_path / "1.2.3" / "1.2.3.4" / "1.2.3.4.5.dcm"
        assert not first.duplicate and first.path.read_bytes() == b"first"
        again = store.file(b"second", "1.2.3", "1.2.3.4", "1.2.3.4.5")
        assert again.duplicate and again.path.read_bytes() == b"first"
        assert not list(tmp_path.rglob(".*.tmp"))

    def test_a_hostile_uid_stays_inside_the_store(self, tmp_path):
        store = InstanceStore(tmp_path / "store")
        f = store.file(b"x", "../../escape", "..", "../../../x")
        assert (tmp_path / "store") in f.path.parents
        assert not (tmp_path / "escape").exists()
