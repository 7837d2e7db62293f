#!/usr/bin/env bash
# Creates (once) the Python virtual environment for the OpenVINO peer benchmark and installs
# openvino and numpy from PyPI into it. Idempotent: quiet when everything is already there.
#
#   ATTNGEN_OPENVINO_VENV   where the venv lives (default: ~/.cache/attngen-openvino-venv;
#                           deliberately outside the repository)
#   PYTHON                  interpreter that creates it (default: python3)
#
# Prints the venv's python and the OpenVINO version on the last line.
set -euo pipefail

OPENVINO_VERSION=2026.4.1
NUMPY_SPEC='numpy>=1.24,<3'
VENV="${ATTNGEN_OPENVINO_VENV:-${HOME}/.cache/attngen-openvino-venv}"
PY="${PYTHON:-python3}"

if [[ ! -x "${VENV}/bin/python" ]]; then
  echo "setup: creating venv ${VENV}" >&2
  mkdir -p "$(dirname "${VENV}")"
  if ! "${PY}" -m venv "${VENV}"; then
    echo "setup: '${PY} -m venv' failed; on Debian/Ubuntu install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  fi
fi

installed() {
  "${VENV}/bin/python" - "$OPENVINO_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("openvino") == sys.argv[1] and version("numpy") else 1)
PYEOF
}

if ! installed; then
  echo "setup: installing openvino==${OPENVINO_VERSION} and numpy into ${VENV}" >&2
  "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "openvino==${OPENVINO_VERSION}" "${NUMPY_SPEC}"
fi

"${VENV}/bin/python" -c 'import openvino as ov, numpy, sys; print(f"python={sys.executable} openvino={ov.get_version()} numpy={numpy.__version__}")'
