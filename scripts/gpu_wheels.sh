#!/bin/sh
# The wheels `scripts/gpu_check.py` needs on a GPU machine without the internet whose Python (3.12 by default;
# PY=3.11 for another) has torch, accelerate, pandas, pillow, matplotlib, scikit-learn, rich, pyyaml, anyio and h11 but
# not fastai and its fast.ai and plum dependencies, nor python-fasthtml, which fastprogress 1.1.6 imports, and the part
# of its dependencies that import pulls in; downloaded into .whl/ (git-ignored through .git/info/exclude) at the
# versions `make install` resolves here.
# timm comes along so the device runs the timm paddy is tested with. Kaggle's client is not needed: paddy imports it
# only for `paddy data/submit/submissions/kernel`.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .git/info
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PIP="${PYTHON:-.venv/bin/python} -m pip"
$PIP download -q --no-deps --only-binary=:all: --python-version "${PY:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    fastai==2.8.12 fastcore==2.2.41 fastprogress==1.1.6 fasttransform==0.0.5 fastdownload==0.0.8 \
    plum-dispatch==2.9.0 beartype==0.23.1 timm==1.0.31 \
    python-fasthtml==0.14.14 starlette==1.10.0 python-multipart==0.0.34 itsdangerous==2.2.0 \
    httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5
ls -l .whl
