#!/usr/bin/env bash
# Creates (or updates) the Python virtual environment build/py-venv and
# installs the attngen package into it from this tree, with its test
# dependencies (numpy, ml_dtypes, pytest) from the package index pip is
# configured with. Needs the Debian packages of scripts/setup.sh (python3-venv,
# python3-dev). The interpreter is Debian's /usr/bin/python3 (a pyenv or conda
# python3 earlier on PATH is not used), or $ATTNGEN_PYTHON.
#   scripts/python-env.sh          then: build/py-venv/bin/python -m pytest python/tests
set -euo pipefail
cd "$(dirname "$0")/.."
python=${ATTNGEN_PYTHON:-/usr/bin/python3}
venv=build/py-venv
if [ ! -x "$venv/bin/python" ]; then
  echo "python-env: creating $venv with $python ($("$python" --version 2>&1))"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# The build requirements are installed into the environment and the package is
# built without isolation: a rebuild reuses build/py-wheel and needs no download.
"${pip[@]}" install "scikit-build-core>=0.10" "nanobind>=2.0" "numpy>=1.22" "ml_dtypes>=0.2" pytest
start=$SECONDS
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} "${pip[@]}" install --no-build-isolation --no-deps .
echo "python-env: attngen installed into $venv in $((SECONDS - start)) s"
