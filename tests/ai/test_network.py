"""Network construction: torchvision DenseNets, feature maps for CAMs, no downloads."""

from __future__ import annotations

import pytest
import torch
import torchvision

from ichviewer.ai.network import build_model, imagenet_weights_available
from tests.ai.conftest import TINY


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache; anything that tried to download would fail (no network)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


class TestBuildModel:
    def test_custom_densenet_exposes_features_and_classifier(self):
        model = build_model("densenet", **TINY).eval()
        x = torch.randn(2, 3, 64, 64)
        with torch.inference_mode():
            feats = model.features(x)
            assert feats.shape[:2] == (2, model.num_features) and feats.min() >= 0
            pooled = feats.mean(dim=(2, 3))
            torch.testing.assert_close(model(x), model.classifier(pooled))
        assert model.classifier.out_features == 6

    def test_state_dict_is_torchvisions(self):
        model = build_model("densenet121")
        tv = torchvision.models.densenet121(weights=None, num_classes=6)
        assert set(model.net.state_dict()) == set(tv.state_dict())

    def test_unknown_arch_and_kwargs_are_refused_by_name(self):
        with pytest.raises(ValueError, match="resnet18"):
            build_model("resnet18")
        with pytest.raises(ValueError, match="growth_rate"):
            build_model("densenet121", growth_rate=8)
        with pytest.raises(ValueError, match="block_config"):
            build_model("densenet", block_config=[])


class TestImagenetInit:
    def test_absent_weights_mean_random_init_and_no_download(self, hub):
        assert imagenet_weights_available("densenet121") is None
        model = build_model("densenet", imagenet=True, **TINY)  # custom sizes have no weights
        assert not model.imagenet_init
        model = build_model("densenet121", imagenet=True)
        assert not model.imagenet_init and not hub.exists()

    def test_cached_weights_are_used(self, hub):
        torch.manual_seed(5)
        source = torchvision.models.densenet121(weights=None)
        sd = source.state_dict()
        # Old torchvision files name dense-layer parts 'norm.1'; they must still load.
        legacy = {
            k.replace("denselayer1.norm1.", "denselayer1.norm.1."): v
            for k, v in sd.items()
            if not k.endswith("num_batches_tracked")  # absent from the 2017 files
        }
        url = torchvision.models.DenseNet121_Weights.IMAGENET1K_V1.url
        path = hub / "checkpoints" / url.rsplit("/", 1)[1]
        path.parent.mkdir(parents=True)
        torch.save(legacy, path)
        assert imagenet_weights_available("densenet121") == path
        model = build_model("densenet121", imagenet=True)
        assert model.imagenet_init
        torch.testing.assert_close(model.net.features.state_dict(), source.features.state_dict())
        assert model.classifier.out_features == 6
