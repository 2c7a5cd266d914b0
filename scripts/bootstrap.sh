#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the package (editable), once; redo it when
# requirements.txt or setup.py change. With --zoo, also install the policy-zoo extra
# (requirements-zoo.txt: robomimic and torchvision) on top, once.
# Installs the system GL libraries for headless rendering if absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.robofail-installed"
zoo_stamp="$venv/.robofail-zoo-installed"
want="$(cat "$here/requirements.txt" "$here/setup.py" | sha256sum | cut -d' ' -f1)"
want_zoo="$(cat "$here/requirements.txt" "$here/requirements-zoo.txt" "$here/setup.py" | sha256sum | cut -d' ' -f1)"
zoo=0
if [[ "${1:-}" == "--zoo" ]]; then zoo=1; fi

# Two first runs at once (say `./robofail zoo build` in one terminal and `./robofail test` in another) would run two
# pip installs into one venv and break it; the second waits here for the first, then finds the stamps written.
mkdir -p "$venv"
exec 9>"$venv/.bootstrap.lock"
if ! flock -n 9; then
  echo "bootstrap: another bootstrap is installing into $venv; waiting for it" >&2
  flock 9
fi

if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1'; then
  echo "bootstrap: installing headless GL libraries (EGL, Mesa) with apt-get" >&2
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libegl1 libgl1 libgl1-mesa-dri libglx-mesa0 >/dev/null
fi

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "bootstrap: creating $venv with pinned dependencies (a few minutes, once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$here/requirements.txt"
  "$venv/bin/python" -m pip install -q --no-deps -e "$here"
  echo "$want" > "$stamp"
  rm -f "$zoo_stamp"
  echo "bootstrap: done" >&2
fi

if [[ $zoo -eq 1 && ( ! -f "$zoo_stamp" || "$(cat "$zoo_stamp")" != "$want_zoo" ) ]]; then
  echo "bootstrap: installing the policy-zoo extra (robomimic, torchvision) into $venv" >&2
  "$venv/bin/python" -m pip install -q -r "$here/requirements.txt" -r "$here/requirements-zoo.txt"
  echo "$want_zoo" > "$zoo_stamp"
  echo "bootstrap: zoo extra done" >&2
fi
