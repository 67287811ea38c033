"""ichviewer.ai stays cheap to import: the window must not wait for torch."""

from __future__ import annotations

import subprocess
import sys

import ichviewer.ai


def test_importing_the_package_and_triage_parser_does_not_load_torch():
    code = (
        "import sys, ichviewer.ai, ichviewer.ai.triage, ichviewer.triage_cli as t;"
        "t.parser();"
        "print('torch' in sys.modules, 'torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_names_resolve_lazily():
    from ichviewer.ai.predictor import Predictor

    assert ichviewer.ai.Predictor is Predictor
    assert set(ichviewer.ai.__all__) <= set(dir(ichviewer.ai))
