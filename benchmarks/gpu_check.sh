#!/usr/bin/env bash
# GPU figures of issues 4 and 5 in one call on a lent GPU machine (the `device` tool):
# design throughput, batched relaxation, batched MD, conductivity prediction.
#
# That machine has torch, numpy, scipy, pandas, scikit-learn, pyarrow, but not the
# materials stack. Prepare here (x86-64; the device runs CPython 3.12):
#   echo /.whl/ >> .git/info/exclude; echo /.devsite/ >> .git/info/exclude
#   bash benchmarks/gpu_check.sh --fetch-wheels      # cp312 wheels into .whl/, packed into
#                                                    # .devsite/site312.tar.xz (~36 MB)
# then run there with carry [".devsite"]. The wheels are unpacked here and the tree is
# packed with xz, because the zipped wheels (55 MB) and the working tree (20 MB, most of
# it the shipped reference relaxations) no longer fit the carry's 64 MiB together.
#   bash benchmarks/gpu_check.sh
# Logs land in $OUT (or ./gpu_logs); the headline figures are printed last.
set -uo pipefail
if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p .whl .devsite
    plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
    for p in ase chgnet dill monty orjson palettable pydantic pydantic_core annotated-types \
             typing-inspection pydantic-settings python-dotenv pymatgen pymatgen-core pymongo \
             ruamel.yaml spglib uncertainties \
             matminer pymatgen-analysis-diffusion matplotlib contourpy cycler fonttools kiwisolver \
             pillow pyparsing gpytorch linear_operator mpmath plotly narwhals \
             tabulate msgpack cloudpickle pyyaml psutil tqdm; do
        v=$(python -m pip show "$p" 2>/dev/null | awk '/^Version:/{print $2}')
        [[ -n "$v" ]] || { echo "$p is not installed here" >&2; exit 1; }
        # a wheel already here may be one stripped below: pip would call its hash bad
        compgen -G ".whl/$(echo "${p//-/_}" | tr . _)-$v-*.whl" > /dev/null && continue
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp "${plat[@]}" -d .whl "$p==$v" || exit 1
    done
    # bibtexparser 1.x (pymatgen's provenance) is an sdist only: build its pure-python wheel
    python3 -m pip wheel -q --no-deps -w .whl \
        "bibtexparser==$(python -m pip show bibtexparser | awk '/^Version:/{print $2}')" || exit 1
    # Parts no check uses, left out to keep the carry under its 64 MiB limit: plotly's
    # JavaScript bundles (pymatgen's phase_diagram imports plotly; its templates stay) and
    # the CHGNet weights other than the default 0.3.0 (so only chgnet 0.3.0 loads there)
    python3 - <<'PY' || exit 1
import glob, zipfile
def unused(name):
    return (name in ("plotly/package_data/plotly.min.js", "plotly/package_data/widgetbundle.js")
            or name.startswith(("plotly/labextension/", "chgnet/pretrained/0.2.0/",
                                "chgnet/pretrained/r2scan/"))
            or "/share/jupyter/labextensions/" in name)
for whl in glob.glob(".whl/plotly-*.whl") + glob.glob(".whl/chgnet-*.whl"):
    with zipfile.ZipFile(whl) as z:
        items = [(i, z.read(i)) for i in z.infolist() if not unused(i.filename)]
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            z.writestr(info, data)
PY
    # chgnet imports nvidia_smi (nvidia-ml-py3, an sdist only); it is one pure-python file
    python -c "import nvidia_smi, shutil; shutil.copy(nvidia_smi.__file__, '.devsite/')" || exit 1
    site=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" \
        --python-version 3.12 --implementation cp "${plat[@]}" --only-binary=:all: \
        .whl/*.whl || exit 1
    tar -C "$site" -cf - --exclude='*/tests' --exclude='*/test' . \
        | xz -9 -T2 > .devsite/site312.tar.xz || exit 1
    rm -rf "$site"
    mib=$(du -sm .devsite | awk '{print $1}')
    echo ".devsite: ${mib} MiB (the carry holds 64 MiB with the working tree)"
    (( mib <= 42 )) || { echo "too large for the device carry" >&2; exit 1; }
    exit 0
fi
export PYTHONUNBUFFERED=1
OUT=${OUT:-gpu_logs}
mkdir -p "$OUT"
mkdir -p /tmp/site && tar -C /tmp/site -xJf .devsite/site312.tar.xz || exit 1
export PYTHONPATH=/tmp/site:$PWD/.devsite:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
timeout 150 python3 -m pytest -q -p no:cacheprovider -o addopts="" -m gpu \
    tests/design/test_gpu.py tests/surrogates/test_attention.py tests/physics/test_relax.py \
    tests/physics/test_chgnet_batch.py 2>&1 | tail -5 | tee "$OUT/gpu_tests.log"
timeout 150 python3 benchmarks/design.py --throughput-only 2>&1 | tee "$OUT/design_throughput.log"
timeout 330 python3 benchmarks/stability.py --relax-speed-only --device cuda --relax-n 64 \
    --relax-serial-n 2 --relax-rounds 1 2>&1 | tee "$OUT/relax_speed.log"
MPLBACKEND=Agg timeout 150 python3 benchmarks/li_transport.py --device cuda --speed-only \
    --min-atoms 80 --speed-ps 0.2 2>&1 | tee "$OUT/md_speed.log"
timeout 120 python3 benchmarks/conductivity.py --predict-device cuda 2>&1 \
    | tee "$OUT/predict_speed.log"
echo "== headline =="
grep -h "candidates_per_s\|batched_relax_speedup\|md_batched_speedup\|predict_10k\|passed\|failed" "$OUT"/*.log
