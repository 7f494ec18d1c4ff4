#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test.
# Extra arguments go to ctest (e.g. scripts/test.sh -L unit, or -LE long for the fast subset).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
