"""The checkpoint contract: what is written is read back; everything else is refused clearly."""

from __future__ import annotations

import builtins
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ichviewer.ai.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from ichviewer.ai.network import build_model
from ichviewer.ai.preprocess import PreprocessSpec, preprocess_batch
from ichviewer.core.labels import LABELS
from ichviewer.core.slice_context import SliceContext, n_features
from ichviewer.errors import ModelLoadError
from tests.ai.conftest import TINY, head_slice, tiny_model


def _payload(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _rewrite(src: Path, dst: Path, **changes) -> Path:
    """A copy of a good checkpoint with some entries changed (None deletes)."""
    obj = _payload(src)
    for key, value in changes.items():
        if value is None:
            del obj[key]
        else:
            obj[key] = value
    torch.save(obj, dst)
    return dst


class TestRoundTrip:
    def test_reloaded_model_gives_the_same_outputs(self, tmp_path, tiny_spec):
        model = tiny_model(seed=3)
        path = tmp_path / "m.pt"
        sha = save_checkpoint(
            path,
            model,
            tiny_spec,
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            {"name": "roundtrip", "metrics": {"auc_any": 0.9}},
        )
        ck = load_checkpoint(path)
        x = preprocess_batch([head_slice(), head_slice(seed=1)], tiny_spec)
        with torch.inference_mode():
            assert torch.equal(model(x), ck.model(x))
        assert not ck.model.training
        assert ck.sha256 == sha == file_sha256(path)
        assert len(ck.sha256) == 64
        assert ck.name == "roundtrip"
        assert ck.labels == LABELS
        assert ck.spec == tiny_spec
        assert ck.thresholds == pytest.approx(
            dict(zip(LABELS, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], strict=True))
        )
        np.testing.assert_allclose(ck.threshold_array, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], rtol=1e-6)
        assert ck.arch == "densenet" and ck.arch_kwargs["block_config"] == [2, 2]

    def test_card_says_what_the_model_is_for(self, tiny_ckpt):
        card = load_checkpoint(tiny_ckpt).card
        assert "not for diagnostic use" in card["intended_use"].lower()
        assert card["training_data"] == "synthetic phantoms"
        for key in ("name", "version", "metrics", "command", "date", "network_data_format"):
            assert key in card
        image = card["network_data_format"]["inputs"]["image"]
        assert image["format"] == "HU"
        assert len(image["channel_def"]) == 3 and "brain" in image["channel_def"]["0"]
        assert card["network_data_format"]["outputs"]["pred"]["value_range"] == [0, 1]

    def test_file_holds_only_plain_types(self, tiny_ckpt):
        obj = _payload(tiny_ckpt)  # would raise if anything but plain types were stored
        # no series-context stage: version 1, which viewers before version 2 read too
        assert obj["format"] == FORMAT_NAME and obj["version"] == 1
        assert "slice_context" not in obj
        assert set(obj["state_dict"]) == set(build_model("densenet", **TINY).net.state_dict())

    def test_card_without_disclaimer_is_not_written(self, tmp_path, tiny_spec):
        with pytest.raises(ValueError, match="not for diagnostic use"):
            save_checkpoint(
                tmp_path / "x.pt",
                tiny_model(),
                tiny_spec,
                [0.5] * 6,
                {"intended_use": "clinical diagnosis"},
            )
        assert not (tmp_path / "x.pt").exists()

    def test_bare_torchvision_densenet_is_accepted_with_its_arch(self, tmp_path, tiny_spec):
        model = tiny_model()
        save_checkpoint(
            tmp_path / "tv.pt", model.net, tiny_spec, [0.5] * 6, arch="densenet", arch_kwargs=TINY
        )
        x = preprocess_batch([head_slice()], tiny_spec)
        with torch.inference_mode():
            assert torch.equal(load_checkpoint(tmp_path / "tv.pt").model(x), model(x))


class _RunsCode:
    """Unpickling this runs Python code (the classic malicious-pickle payload)."""

    def __init__(self, marker: Path, how: str) -> None:
        self.marker, self.how = marker, how

    def __reduce__(self):
        if self.how == "os.system":
            return (os.system, (f"touch '{self.marker}'",))
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


class TestRefusals:
    def _refused(self, path: Path, *needles: str) -> str:
        with pytest.raises(ModelLoadError) as info:
            load_checkpoint(path)
        msg = str(info.value)
        assert str(path) in msg
        for needle in needles:
            assert needle in msg, msg
        return msg

    @pytest.mark.parametrize("how", ["os.system", "exec"])
    def test_malicious_pickle_is_refused_without_running(self, tmp_path, tiny_ckpt, how):
        marker = tmp_path / "PWNED"
        obj = _payload(tiny_ckpt)
        obj["card"] = {"name": "evil", "payload": _RunsCode(marker, how)}
        path = tmp_path / "evil.pt"
        torch.save(obj, path)
        msg = self._refused(path, "unsafe", "not allowed")
        assert not marker.exists()
        assert "exec" in msg or "system" in msg  # names what it tried to call

    def test_random_bytes(self, tmp_path):
        path = tmp_path / "random.pt"
        path.write_bytes(np.random.default_rng(0).bytes(4096))
        self._refused(path, "not a checkpoint file")

    def test_empty_file(self, tmp_path):
        path = tmp_path / "empty.pt"
        path.write_bytes(b"")
        self._refused(path, "not a checkpoint file", "empty")

    def test_zip_that_is_not_torch(self, tmp_path):
        path = tmp_path / "archive.pt"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "hello")
        self._refused(path, "not a checkpoint file", "zip")

    def test_missing_file(self, tmp_path):
        self._refused(tmp_path / "nope.pt", "cannot read")

    def test_plain_state_dict(self, tmp_path):
        path = tmp_path / "sd.pt"
        torch.save(tiny_model().net.state_dict(), path)
        self._refused(path, "not an ICH Viewer checkpoint")

    def test_wrong_format_name(self, tmp_path, tiny_ckpt):
        path = _rewrite(tiny_ckpt, tmp_path / "f.pt", format="someone-elses-model")
        self._refused(path, "format", "someone-elses-model", FORMAT_NAME)

    def test_unsupported_version(self, tmp_path, tiny_ckpt):
        path = _rewrite(tiny_ckpt, tmp_path / "v.pt", version=FORMAT_VERSION + 1)
        self._refused(path, f"unsupported checkpoint version {FORMAT_VERSION + 1}", "1, 2")

    def test_missing_keys_are_named(self, tmp_path, tiny_ckpt):
        path = _rewrite(tiny_ckpt, tmp_path / "k.pt", thresholds=None, card=None)
        self._refused(path, "missing", "thresholds", "card")

    def test_labels_not_in_rsna_order(self, tmp_path, tiny_ckpt):
        swapped = list(LABELS)
        swapped[0], swapped[1] = swapped[1], swapped[0]
        path = _rewrite(tiny_ckpt, tmp_path / "l.pt", labels=swapped)
        self._refused(path, "labels", "RSNA")

    def test_missing_and_unexpected_weights(self, tmp_path, tiny_ckpt):
        sd = dict(_payload(tiny_ckpt)["state_dict"])
        del sd["classifier.bias"]
        sd["features.extra.weight"] = torch.zeros(3)
        path = _rewrite(tiny_ckpt, tmp_path / "w.pt", state_dict=sd)
        self._refused(
            path,
            "weights do not match",
            "1 missing: classifier.bias",
            "1 unexpected: features.extra.weight",
        )

    def test_weights_of_another_shape(self, tmp_path, tiny_ckpt):
        sd = dict(_payload(tiny_ckpt)["state_dict"])
        sd["classifier.weight"] = torch.zeros(5, sd["classifier.weight"].shape[1])
        path = _rewrite(tiny_ckpt, tmp_path / "s.pt", state_dict=sd)
        self._refused(path, "wrong shape", "classifier.weight")

    def test_weights_of_another_arch(self, tmp_path, tiny_ckpt):
        path = _rewrite(
            tiny_ckpt, tmp_path / "a.pt", arch_kwargs={**TINY, "block_config": [2, 2, 2]}
        )
        self._refused(path, "weights do not match", "missing")

    def test_unknown_arch(self, tmp_path, tiny_ckpt):
        path = _rewrite(tiny_ckpt, tmp_path / "u.pt", arch="resnet50")
        self._refused(path, "cannot build the network", "resnet50")

    def test_nan_weights(self, tmp_path, tiny_ckpt):
        sd = dict(_payload(tiny_ckpt)["state_dict"])
        sd["classifier.weight"] = torch.full_like(sd["classifier.weight"], float("nan"))
        path = _rewrite(tiny_ckpt, tmp_path / "n.pt", state_dict=sd)
        self._refused(path, "NaN", "classifier.weight")

    @pytest.mark.parametrize(
        ("field", "value", "needle"),
        [
            ("size", 0, "size"),
            ("windows", [[40, 80], [80, 200]], "windows"),
            ("windows", [[40, 80], [80, -1], [600, 2800]], "windows[1] width"),
            ("mode", "gamma", "mode"),
            ("std", [0.5, 0.0, 0.5], "std"),
        ],
    )
    def test_bad_preprocess_spec(self, tmp_path, tiny_ckpt, field, value, needle):
        spec = dict(_payload(tiny_ckpt)["preprocess"])
        spec[field] = value
        path = _rewrite(tiny_ckpt, tmp_path / "p.pt", preprocess=spec)
        self._refused(path, "preprocess spec", needle)

    def test_bad_thresholds(self, tmp_path, tiny_ckpt):
        path = _rewrite(tiny_ckpt, tmp_path / "t.pt", thresholds={"any": 0.5})
        self._refused(path, "thresholds", "epidural")


class TestSpecValidation:
    def test_bad_values_name_the_field(self):
        with pytest.raises(ModelLoadError, match="size"):
            PreprocessSpec(size=-3)
        with pytest.raises(ModelLoadError, match="mode"):
            PreprocessSpec(mode="cubic")
        with pytest.raises(ModelLoadError, match="missing field.*mean"):
            PreprocessSpec.from_dict(
                {"size": 8, "windows": [[1, 2]] * 3, "mode": "linear", "std": [1, 1, 1]}
            )

    def test_dict_round_trip(self, tiny_spec):
        assert PreprocessSpec.from_dict(tiny_spec.to_dict()) == tiny_spec
        assert tiny_spec.to_dict()["channels"] == ["brain", "subdural", "bone"]


def _context(seed: int = 0) -> SliceContext:
    rng = np.random.default_rng(seed)
    d = (5.0, 10.0)
    return SliceContext(d, rng.normal(0, 0.3, (6, n_features(d))), rng.normal(0, 0.5, 6))


class TestSeriesContext:
    """Version 2: the optional series-context stage and the network's own thresholds."""

    @pytest.fixture()
    def ctx_ckpt(self, tmp_path, tiny_spec):
        path = tmp_path / "ctx.pt"
        save_checkpoint(
            path,
            tiny_model(),
            tiny_spec,
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.3],
            {"name": "ctx"},
            slice_context=_context(),
            slice_thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.02],
        )
        return path

    def test_stage_and_both_threshold_sets_come_back(self, ctx_ckpt):
        obj = _payload(ctx_ckpt)
        assert obj["version"] == 2 == FORMAT_VERSION - 1
        ck = load_checkpoint(ctx_ckpt)
        want = _context()
        assert ck.context is not None and ck.context.distances_mm == (5.0, 10.0)
        np.testing.assert_array_equal(ck.context.weight, want.weight)
        np.testing.assert_array_equal(ck.context.bias, want.bias)
        assert ck.thresholds["any"] == pytest.approx(0.3)  # for the revised probabilities
        assert ck.slice_thresholds["any"] == pytest.approx(0.02)  # the network's own
        p = np.random.default_rng(1).uniform(0.01, 0.99, (7, 6)).astype(np.float32)
        pos = 5.0 * np.arange(7)
        np.testing.assert_array_equal(ck.context.apply(p, pos), want.apply(p, pos))

    def test_file_without_stage_has_none(self, tiny_ckpt):
        ck = load_checkpoint(tiny_ckpt)
        assert ck.context is None and ck.slice_thresholds is None

    def test_stage_needs_the_networks_thresholds(self, tmp_path, tiny_spec):
        with pytest.raises(ValueError, match="slice_thresholds"):
            save_checkpoint(
                tmp_path / "x.pt", tiny_model(), tiny_spec, [0.5] * 6, slice_context=_context()
            )

    def test_wrong_weight_shape_is_named(self, tmp_path, ctx_ckpt):
        bad = dict(_payload(ctx_ckpt)["slice_context"])
        bad["weight"] = [[0.0] * 5] * 6
        path = _rewrite(ctx_ckpt, tmp_path / "w.pt", slice_context=bad)
        TestRefusals()._refused(path, "slice_context", "weight must be (6, 30)", "(6, 5)")

    def test_non_finite_weights_are_refused(self, tmp_path, ctx_ckpt):
        bad = dict(_payload(ctx_ckpt)["slice_context"])
        bad["bias"] = [float("nan")] * 6
        path = _rewrite(ctx_ckpt, tmp_path / "n.pt", slice_context=bad)
        TestRefusals()._refused(path, "slice_context", "finite")

    def test_missing_slice_thresholds_are_named(self, tmp_path, ctx_ckpt):
        bad = dict(_payload(ctx_ckpt)["slice_context"])
        del bad["slice_thresholds"]
        path = _rewrite(ctx_ckpt, tmp_path / "t.pt", slice_context=bad)
        TestRefusals()._refused(path, "slice_context lacks slice_thresholds")

    def test_version_1_file_with_a_stage_is_refused(self, tmp_path, ctx_ckpt):
        path = _rewrite(ctx_ckpt, tmp_path / "v1.pt", version=1)
        TestRefusals()._refused(path, "slice_context needs checkpoint version 2")


class TestVersion3:
    """Version 3: mirror-averaged scoring and the study-level threshold."""

    @pytest.fixture()
    def v3_ckpt(self, tmp_path, tiny_spec):
        path = tmp_path / "v3.pt"
        save_checkpoint(
            path,
            tiny_model(),
            tiny_spec,
            [0.5] * 6,
            {"name": "v3"},
            mirror_average=True,
            study_threshold=0.8,
            study_rule="test rule",
        )
        return path

    def test_round_trip(self, v3_ckpt):
        assert _payload(v3_ckpt)["version"] == 3 == FORMAT_VERSION
        ck = load_checkpoint(v3_ckpt)
        assert ck.mirror_average is True
        assert ck.study_threshold == pytest.approx(0.8) and ck.study_rule == "test rule"

    def test_older_files_score_as_before(self, tiny_ckpt):
        ck = load_checkpoint(tiny_ckpt)
        assert ck.mirror_average is False and ck.study_threshold is None

    def test_version_3_entries_in_a_version_2_file_are_refused(self, tmp_path, v3_ckpt):
        path = _rewrite(v3_ckpt, tmp_path / "v2.pt", version=2)
        TestRefusals()._refused(path, "need checkpoint version 3")

    @pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "0.5", True])
    def test_bad_study_threshold_is_named(self, tmp_path, v3_ckpt, bad):
        path = _rewrite(v3_ckpt, tmp_path / "s.pt", study={"threshold": bad})
        TestRefusals()._refused(path, "study.threshold must be a number in [0, 1]")

    def test_bad_mirror_flag_is_named(self, tmp_path, v3_ckpt):
        path = _rewrite(v3_ckpt, tmp_path / "m.pt", inference={"mirror_average": "yes"})
        TestRefusals()._refused(path, "inference.mirror_average must be true or false")


class TestArchitectureBomb:
    def test_a_huge_architecture_is_refused_before_it_is_built(
        self, tmp_path, tiny_ckpt, monkeypatch
    ):
        import ichviewer.ai.checkpoint as ck_mod

        built = []
        monkeypatch.setattr(ck_mod, "build_model", lambda *a, **k: built.append(k))
        path = _rewrite(
            tiny_ckpt,
            tmp_path / "bomb.pt",
            arch_kwargs={"growth_rate": 4096, "block_config": [4, 8], "num_init_features": 16},
        )
        TestRefusals()._refused(path, "growth_rate 4096 is larger than any DenseNet")
        path = _rewrite(
            tiny_ckpt,
            tmp_path / "bomb2.pt",
            arch_kwargs={
                "growth_rate": 128,
                "block_config": [64, 64, 64, 64],
                "num_init_features": 64,
            },
        )
        TestRefusals()._refused(path, "M parameters")
        assert built == []  # nothing was allocated for either
