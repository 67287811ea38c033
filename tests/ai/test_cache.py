"""The result cache: hits skip the network, bad entries are never trusted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ichviewer.ai.cache import ResultCache
from ichviewer.ai.jobs import ScoringJob
from ichviewer.ai.predictor import Predictor
from tests.ai.conftest import head_slice

SHA = "ab" * 32
P = np.array([0.01, 0.2, 0.3, 0.45, 0.5, 0.99], dtype=np.float32)


class TestResultCache:
    def test_miss_then_exact_hit(self, cache_root):
        cache = ResultCache(SHA)
        assert cache.get("1.2.3") is None
        cache.put("1.2.3", P)
        got = cache.get("1.2.3")
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, P)
        assert (cache.hits, cache.misses) == (1, 1)
        path = cache.path_for("1.2.3")
        assert path.is_relative_to(cache_root / "results" / SHA[:16])

    def test_uids_become_safe_file_names(self):
        cache = ResultCache(SHA)
        weird = "../../etc/passwd#3 \\ : *"
        cache.put(weird, P)
        path = cache.path_for(weird)
        assert path.parent.parent == cache.dir and path.is_file()
        assert "passwd" not in str(path)
        np.testing.assert_array_equal(cache.get(weird), P)

    def test_models_do_not_share_entries(self):
        ResultCache(SHA).put("1.2.3", P)
        assert ResultCache("cd" * 32).get("1.2.3") is None

    @pytest.mark.parametrize(
        "damage",
        ["truncate", "garbage", "empty", "edit_value", "wrong_shape", "other_uid"],
    )
    def test_corrupt_entry_is_deleted_not_trusted(self, damage):
        cache = ResultCache(SHA)
        cache.put("1.2.3", P)
        path = cache.path_for("1.2.3")
        data = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "garbage":
            path.write_bytes(b"\x00\xff" * 40)
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            entry = json.loads(data)
            if damage == "edit_value":
                entry["p"][5] = 0.01  # checksum no longer matches
            elif damage == "wrong_shape":
                entry["p"] = entry["p"][:5]
            else:
                cache.put("9.9.9", P)
                entry = json.loads(cache.path_for("9.9.9").read_bytes())
            path.write_text(json.dumps(entry))
        assert cache.get("1.2.3") is None
        assert cache.corrupt == 1
        assert not path.exists()


class TestCacheWithScoring:
    def test_hit_skips_the_network_and_corruption_is_repaired(self, tiny_ckpt, monkeypatch):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        slices = [head_slice(seed=i) for i in range(3)]
        uids = ["1.1", "1.2", "1.3"]
        cache = ResultCache(predictor.sha256)
        first = ScoringJob(predictor, slices.__getitem__, uids, cache=cache).run()
        assert not any(r.from_cache for r in first.values())

        calls = []
        real_predict = predictor.predict
        monkeypatch.setattr(
            predictor, "predict", lambda s, **kw: calls.append(len(s)) or real_predict(s, **kw)
        )
        second = ScoringJob(predictor, slices.__getitem__, uids, cache=cache).run()
        assert calls == [] and all(r.from_cache for r in second.values())
        for i in range(3):
            np.testing.assert_array_equal(second[i].probabilities, first[i].probabilities)

        cache.path_for("1.2").write_bytes(b'{"format": "ichviewer-result", "p": [')
        third = ScoringJob(predictor, slices.__getitem__, uids, cache=cache).run()
        assert calls == [1]  # only the damaged slice was scored again
        assert not third[1].from_cache and third[0].from_cache
        np.testing.assert_allclose(third[1].probabilities, first[1].probabilities, atol=1e-5)
        np.testing.assert_array_equal(cache.get("1.2"), third[1].probabilities)  # repaired
