#!/usr/bin/env bash
# Install what repdyn needs on a fresh machine: the Fashion-MNIST Debian package (the
# offline default dataset) when its files are missing, and the Python package with its
# pinned dependencies. `--test` adds the test dependencies (pytest, pytest-xdist, torch-cka, selenium), the
# headless browser the report test renders pages in (Debian packages chromium, chromium-driver), and
# SLURM with munge (slurmctld, slurmd, slurm-client, munge) for the one-node cluster that
# tests/cluster/test_slurm.py starts with scripts/slurm-cluster.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
debs=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || debs+=(dataset-fashion-mnist)
if [ "${1:-}" = "--test" ]; then
    extras="[test]"
    command -v chromium >/dev/null || debs+=(chromium)
    command -v chromedriver >/dev/null || debs+=(chromium-driver)
    for pkg in munge slurmctld slurmd slurm-client; do
        dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg")
    done
fi

if [ "${#debs[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "install.sh: installing Debian package(s) ${debs[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${debs[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".${extras}"
