#!/usr/bin/env bash
# Install what repdyn needs on a fresh machine: the Fashion-MNIST Debian package (the
# offline default dataset) when its files are missing, and the Python package with its
# pinned dependencies. `--test` adds the test dependencies (pytest, torch-cka).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "install.sh: installing Debian package dataset-fashion-mnist" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".${extras}"
