#!/usr/bin/env bash
# Start-up times of an ICH Viewer command, in the same clean environment as smoke.sh:
#   - `--version` (interpreter + CLI start, no Qt, no torch)
#   - `--self-test` (imports torch, loads the model, scores the 29-slice demo study)
#   - time to first window: the real xcb platform on a private Xvfb display, from exec to
#     the main window being mapped (IsViewable), then the app is closed. Needs Xvfb and
#     xwininfo; skipped without them.
#
#   packaging/time_startup.sh [N] CMD...      e.g.
#   packaging/time_startup.sh 3 dist/ichviewer/ichviewer
#   packaging/time_startup.sh 3 .venv/bin/python -m ichviewer
set -euo pipefail
N="${1:-3}"; shift
[ $# -gt 0 ] || { echo "usage: $0 [N] CMD..." >&2; exit 2; }
case "$1" in /*) ;; *) set -- "$PWD/$1" "${@:2}" ;; esac

TMP="$(mktemp -d /tmp/ichviewer-time.XXXXXX)"
XVFB_PID=""
cleanup() {
    [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$TMP/home" "$TMP/cache" "$TMP/config" "$TMP/work"
cd "$TMP/work"

CLEAN=(env -i PATH=/usr/bin:/bin HOME="$TMP/home" LANG=C.UTF-8
    XDG_CACHE_HOME="$TMP/cache" XDG_CONFIG_HOME="$TMP/config"
    ICHVIEWER_SITE_CONFIG="$TMP/no-site.json")
clean() { "${CLEAN[@]}" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

for what in --version --self-test; do
    times=()
    for _ in $(seq "$N"); do
        t0=$(now); clean "$@" "$what" >"$TMP/out.log" 2>&1; t1=$(now)
        times+=("$(secs "$t0" "$t1")")
    done
    echo "$what: ${times[*]} s"
done

if ! command -v Xvfb >/dev/null || ! command -v xwininfo >/dev/null; then
    echo "first window: skipped (needs Xvfb and xwininfo)"; exit 0
fi
# -displayfd: Xvfb picks a free display number and writes it to fd 3
Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$TMP/display" >"$TMP/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do [ -s "$TMP/display" ] && break; sleep 0.1; done
DISP=":$(head -n 1 "$TMP/display")"
times=()
for _ in $(seq "$N"); do
    t0=$(now)
    # not through a shell function: $! must be the app itself (env execs it), not a subshell
    "${CLEAN[@]}" DISPLAY="$DISP" QT_QPA_PLATFORM=xcb "$@" >"$TMP/gui.log" 2>&1 &
    app=$!
    shown=""
    for _ in $(seq 1200); do  # up to 60 s
        id="$(DISPLAY="$DISP" xwininfo -root -tree 2>/dev/null \
            | awk '/"ICH Viewer": \("/ { print $1; exit }')"  # the main window (has WM_CLASS)
        if [ -n "$id" ] && DISPLAY="$DISP" xwininfo -id "$id" 2>/dev/null | grep -q IsViewable
        then shown=$(now); break; fi
        kill -0 "$app" 2>/dev/null || break
        sleep 0.05
    done
    kill "$app" 2>/dev/null || true
    wait "$app" 2>/dev/null || true
    for _ in $(seq 100); do  # the X server drops the window a moment after the client
        DISPLAY="$DISP" xwininfo -root -tree 2>/dev/null | grep -q '"ICH Viewer"' || break
        sleep 0.05
    done
    if [ -z "$shown" ]; then
        echo "first window: never shown" >&2; tail -n 20 "$TMP/gui.log" >&2; exit 1
    fi
    times+=("$(secs "$t0" "$shown")")
done
echo "first window (xcb): ${times[*]} s"
