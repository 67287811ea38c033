#!/usr/bin/env bash
# Build the one-folder bundle: dist/ichviewer/ichviewer (+ _internal/).
#
#   packaging/build.sh                 # with the project venv (.venv), whatever torch it has
#   PYTHON=build/venv-cpu/bin/python packaging/build.sh   # a CPU-only torch env (README.md)
#   ICHVIEWER_BUNDLE_TRIM=0 packaging/build.sh            # no trimming (debugging)
#
# Runs PyInstaller niced (the build machine is shared), prints the bundle size and the
# build time, and refuses a bundle that holds a GPL decoder (pylibjpeg-libjpeg).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="${DIST:-$ROOT/dist}"
WORK="${WORK:-$ROOT/build/pyinstaller}"

"$PYTHON" -c "import PyInstaller" 2>/dev/null || {
    echo "PyInstaller missing: $PYTHON -m pip install -e '.[packaging]'" >&2; exit 2; }

t0=$(date +%s)
nice -n "${NICE:-10}" "$PYTHON" -m PyInstaller --noconfirm --log-level "${LOG_LEVEL:-WARN}" \
    --distpath "$DIST" --workpath "$WORK" packaging/ichviewer.spec
t1=$(date +%s)

APP="$DIST/ichviewer"
if [ -d "$APP/_internal/libjpeg" ]; then
    echo "error: GPL decoder pylibjpeg-libjpeg ended up in $APP" >&2; exit 1
fi
for need in resources/model resources/demo/series licences; do
    [ -e "$APP/_internal/$need" ] || { echo "error: $need missing from the bundle" >&2; exit 1; }
done
# the fast decoders (ichviewer/io/fast_codecs.py) are imported by name: check they travelled
for codec in _jpeg8 _jpegls _jpeg2k; do
    ls "$APP"/_internal/imagecodecs/"$codec".* >/dev/null 2>&1 || {
        echo "error: imagecodecs.$codec missing from the bundle" >&2; exit 1; }
done
echo "built $APP in $((t1 - t0)) s, $(du -sh "$APP" | cut -f1)"
