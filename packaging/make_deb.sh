#!/usr/bin/env bash
# Package the built bundle (dist/ichviewer, from packaging/build.sh) as a .deb:
#   /opt/ichviewer/...                                   the one-folder app
#   /usr/bin/ichviewer -> /opt/ichviewer/ichviewer       the command on PATH
#   /usr/share/applications/ichviewer.desktop            menu entry
#   /usr/share/icons/hicolor/256x256/apps/ichviewer.png  its icon
#   /usr/share/doc/ichviewer/{copyright,site.json.example}
# Output: dist/ichviewer_<version>_<arch>_<cpu|cuda>.deb (dist/ is gitignored; DEB_OUT
# overrides). Both flavours are the same package "ichviewer": one replaces the other.
#
#   packaging/make_deb.sh [BUNDLE_DIR]
#   DEB_COMPRESS="-Zgzip -z1" packaging/make_deb.sh     # default: -Zzstd -z3 (fast; the
#                                                        # bundle is large)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="${1:-$ROOT/dist/ichviewer}"
TEMPLATES="$ROOT/packaging/deb"
[ -x "$BUNDLE/ichviewer" ] || { echo "make_deb: no bundle at $BUNDLE (packaging/build.sh)" >&2; exit 2; }

VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n 1)"
ARCH="$(dpkg --print-architecture)"
if [ -d "$BUNDLE/_internal/nvidia" ]; then FLAVOUR="CUDA"; TAG="cuda"; else FLAVOUR="CPU-only"; TAG="cpu"; fi

STAGE="$ROOT/build/deb/ichviewer_${VERSION}_${ARCH}"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/doc/ichviewer"

# Hard links where possible: the bundle can be several GB and dpkg-deb only reads it.
cp -al "$BUNDLE" "$STAGE/opt/ichviewer" 2>/dev/null || cp -a "$BUNDLE" "$STAGE/opt/ichviewer"
ln -s /opt/ichviewer/ichviewer "$STAGE/usr/bin/ichviewer"
install -m 644 "$TEMPLATES/ichviewer.desktop" "$STAGE/usr/share/applications/ichviewer.desktop"
install -m 644 "$ROOT/resources/icons/ichviewer.png" \
    "$STAGE/usr/share/icons/hicolor/256x256/apps/ichviewer.png"
install -m 644 "$TEMPLATES/site.json.example" "$STAGE/usr/share/doc/ichviewer/site.json.example"
{
    echo "ICH Viewer: MIT licence (see pyproject.toml)."
    echo "Bundled third-party licences: /opt/ichviewer/_internal/licences/"
} >"$STAGE/usr/share/doc/ichviewer/copyright"
chmod 644 "$STAGE/usr/share/doc/ichviewer/copyright"
install -m 755 "$TEMPLATES/postinst" "$TEMPLATES/postrm" "$STAGE/DEBIAN/"

SIZE_KB="$(du -sk --apparent-size "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$SIZE_KB/" \
    -e "s/@FLAVOUR@/$FLAVOUR/" "$TEMPLATES/control.in" >"$STAGE/DEBIAN/control"

OUT="${DEB_OUT:-$ROOT/dist/ichviewer_${VERSION}_${ARCH}_${TAG}.deb}"
t0=$(date +%s)
# shellcheck disable=SC2086  # DEB_COMPRESS is two words on purpose
nice -n "${NICE:-10}" dpkg-deb --root-owner-group ${DEB_COMPRESS:--Zzstd -z3} --build "$STAGE" "$OUT"
t1=$(date +%s)
rm -rf "$STAGE"
echo "make_deb: $OUT ($FLAVOUR, $(du -h "$OUT" | cut -f1), installed $((SIZE_KB / 1024)) MiB," \
    "$((t1 - t0)) s)"
