#!/usr/bin/env bash
# Create .venv with a Python 3.10 and install the pinned dependencies.
# Rasa Open Source 3.6 supports Python 3.8–3.10 only.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in python3.10 "$(command -v pyenv >/dev/null && pyenv prefix 3.10 2>/dev/null | head -1)/bin/python" \
      $(ls -d "$HOME"/.pyenv/versions/3.10*/bin/python 2>/dev/null); do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  if ! python=$(find_python); then
    echo "需要 Python 3.10（Rasa 3.6 不支持 3.11 及以上）。" >&2
    echo "Python 3.10 is required. Install it, e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10 python3.10-venv', then run make again." >&2
    exit 1
  fi
  echo "Using $python"
  "$python" -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade "pip<25"
.venv/bin/pip install --quiet -c constraints.txt -e ".[dev]"
touch .venv/.installed
