#!/usr/bin/env bash
# Make a CPU-only build environment (build/venv-cpu) next to the project venv:
# the CPU torch wheel in its own site-packages, everything else (PySide6, pydicom,
# torchvision, PyInstaller, ichviewer...) seen from .venv through a .pth file. Then
#   PYTHON=build/venv-cpu/bin/python packaging/build.sh
# builds a bundle without CUDA (see README.md for sizes).
#
#   packaging/cpu_env.sh [TORCH_CPU_WHEEL]
#     default wheel: /opt/wheels/torch-*+cpu-*.whl, else the PyTorch CPU index.
# If torchvision's compiled ops cannot load with that torch (a CUDA torchvision wheel, as
# here), packaging/hooks/torchvision_noops.py is activated so `import torchvision` works;
# the viewer only uses torchvision.models.densenet (pure Python).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MAIN_PY="$ROOT/.venv/bin/python"
BASE_PY="$("$MAIN_PY" -c 'import sys; print(sys._base_executable)')"
VENV="$ROOT/build/venv-cpu"
WHEEL="${1:-$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)}"

"$BASE_PY" -m venv "$VENV"
if [ -n "$WHEEL" ]; then
    "$VENV/bin/pip" install -q --no-deps "$WHEEL"
else
    "$VENV/bin/pip" install -q --no-deps torch --index-url https://download.pytorch.org/whl/cpu
fi
SP="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
MAIN_SP="$("$MAIN_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# addsitedir (not a bare path line) so .venv's own .pth files (the editable ichviewer) apply.
echo "import site; site.addsitedir('$MAIN_SP')" >"$SP/zz_ichviewer_main_venv.pth"

if ! (cd /tmp && "$VENV/bin/python" -c "import torchvision" >/dev/null 2>&1); then
    cp "$ROOT/packaging/hooks/torchvision_noops.py" "$SP/ichviewer_torchvision_noops.py"
    echo "import ichviewer_torchvision_noops" >"$SP/aa_ichviewer_torchvision_noops.pth"
    echo "cpu_env: torchvision's C++ ops do not load with this torch; using torchvision_noops"
fi
(cd /tmp && "$VENV/bin/python" -c "
import torch, torchvision
from torchvision.models import densenet121
assert torch.version.cuda is None, torch.version.cuda
print('cpu_env: torch', torch.__version__, 'torchvision', torchvision.__version__, 'OK')")
