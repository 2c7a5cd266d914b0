#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the package (editable), once; redo it when
# requirements.txt or setup.py change. Installs the system GL libraries for headless rendering if absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.robofail-installed"
want="$(cat "$here/requirements.txt" "$here/setup.py" | sha256sum | cut -d' ' -f1)"

if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1'; then
  echo "bootstrap: installing headless GL libraries (EGL, Mesa) with apt-get" >&2
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libegl1 libgl1 libgl1-mesa-dri libglx-mesa0 >/dev/null
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "bootstrap: creating $venv with pinned dependencies (a few minutes, once)" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$here/requirements.txt"
"$venv/bin/python" -m pip install -q --no-deps -e "$here"
echo "$want" > "$stamp"
echo "bootstrap: done" >&2
