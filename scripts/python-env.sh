#!/usr/bin/env bash
# Creates (or updates) the Python virtual environment build/py-venv and
# installs the attngen package into it from this tree, with its test
# dependencies (numpy, ml_dtypes, pytest) from the package index pip is
# configured with. Needs the Debian packages of scripts/setup.sh (python3-venv,
# python3-dev). The interpreter is Debian's /usr/bin/python3 (a pyenv or conda
# python3 earlier on PATH is not used), or $ATTNGEN_PYTHON.
# PyTorch (for attngen.torch and its tests, about 5 GB with the CUDA libraries
# its wheel depends on) is installed too, while the extension compiles;
# ATTNGEN_PY_TORCH=0 leaves it out (its tests are then skipped).
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
torch_pid=
if [ "${ATTNGEN_PY_TORCH:-1}" != 0 ] && ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  # Downloading and unpacking torch is I/O; the extension's build is CPU: side by side.
  echo "python-env: installing torch into $venv (ATTNGEN_PY_TORCH=0 skips it)"
  "${pip[@]}" install "torch>=2.4" > build/py-torch-install.log 2>&1 &
  torch_pid=$!
  trap '[ -z "$torch_pid" ] || kill "$torch_pid" 2>/dev/null || true' EXIT  # the build failed: stop it too
fi
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} "${pip[@]}" install --no-build-isolation --no-deps .
echo "python-env: attngen installed into $venv in $((SECONDS - start)) s"
if [ -n "$torch_pid" ]; then
  status=0
  wait "$torch_pid" || status=$?
  torch_pid=
  if [ "$status" != 0 ]; then
    cat build/py-torch-install.log >&2
    echo "python-env: installing torch failed (ATTNGEN_PY_TORCH=0 skips it)" >&2
    exit 1
  fi
  echo "python-env: torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') ready in $((SECONDS - start)) s"
fi
