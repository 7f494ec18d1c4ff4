#!/usr/bin/env bash
# Installs the Debian 12 packages fromscratch needs, skipping those already present.
# CUDA and NCCL are optional (used when /usr/local/cuda exists) and are not installed here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin                      # MPI
  libhdf5-openmpi-dev hdf5-tools                   # parallel HDF5 + h5dump
  libboost-program-options-dev nlohmann-json3-dev  # CLI, JSON
  libssl-dev libxxhash-dev                         # SHA-256, xxh3
  libeigen3-dev liblapack-dev                      # linear algebra
  libpcre2-dev libicu-dev                          # Unicode regex and normalization for tokenizers
  libgtest-dev googletest                          # tests
  python3 python3-numpy python3-h5py python3-xxhash  # independent checks of digests and HDF5 output, NumPy baselines
  clang libclang-rt-14-dev                         # libFuzzer targets
  bc util-linux                                    # bench/ arithmetic and fincore
  python3-torch                                    # tiny trained model families, function-preservation checks
  libcurl4-openssl-dev nginx-light                 # HTTP client (remote checkpoints, behaviour probes); test hub server
  ccache                                           # faster rebuilds (used by scripts/build.sh when present)
  slurm-wlm munge                                  # a real single-node Slurm for the job-script tests
  gnuplot-nox                                      # report figures (SVG terminal)
  chromium                                         # the report seen in a real headless browser (test)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs tokenizers.js, the reference encoder of the tokenizer cross-check and benchmark.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The reference tokenizer library (pinned by bench/tokenizer/package-lock.json). Without the npm registry the
# cross-check test reports itself skipped; nothing else needs it.
if [ ! -d "$root/bench/tokenizer/node_modules/@huggingface/tokenizers" ]; then
  (cd "$root/bench/tokenizer" && npm ci --silent --no-audit --no-fund) \
    || echo "warning: npm ci in bench/tokenizer failed; the tokenizers.js cross-check will be skipped"
fi
