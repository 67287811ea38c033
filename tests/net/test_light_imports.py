"""ichviewer.net loads without torch or Qt: the receiver and PACS commands start fast, and
torch comes in only when a study is scored."""

from __future__ import annotations

import subprocess
import sys


def test_net_modules_import_neither_torch_nor_qt():
    code = (
        "import sys\n"
        "import ichviewer.net.cli, ichviewer.net.receiver, ichviewer.net.query\n"
        "import ichviewer.net.results, ichviewer.net.scoring\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
