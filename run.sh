#!/usr/bin/env bash
# One entry point for lecturers, students and CI.
#   ./run.sh lecture   set up (first time) and open JupyterLab on the notebooks, offline
#   ./run.sh test      set up (first time) and run every test (library + all notebooks, quick mode)
#   ./run.sh bench     print the benchmark table
#   ./run.sh gallery   execute every notebook in lecture mode into build/gallery/ (HTML)
#   ./run.sh fetch     while online: the slides' networks + paintings into the caches (--list: what is there)
#   ./run.sh setup     only set up .venv
set -euo pipefail
cd "$(dirname "$0")"
VENV=${COURSE_VENV:-.venv}
PY="$VENV/bin/python"

setup() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
  fi
  # torch first, pinned: an unpinned torch can pull several GB. Override for other platforms,
  # e.g. TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu".
  if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
    "$PY" -m pip install ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
  fi
  if ! "$PY" -c "import course_lib, nbval, xdist, jupyterlab, playwright, polib" 2>/dev/null; then
    "$PY" -m pip install -e ".[lab,test]"
  fi
}

case "${1:-}" in
  setup) setup ;;
  lecture)
    setup
    root_flag=(); [ "$(id -u)" = 0 ] && root_flag=(--allow-root)  # containers and CI run as root
    exec "$VENV/bin/jupyter" lab --notebook-dir=notebooks "${root_flag[@]}" "${@:2}" ;;
  test)
    setup
    export COURSE_LIB_QUICK=1 MPLBACKEND=Agg COURSE_LIB_TESTING=1 COURSE_LIB_OFFLINE=1  # strict readable_errors (see README); paintings use their generated stand-ins
    # Two pytest workers (a file each at a time: a notebook's cells stay in order in one kernel), one torch
    # thread each: on 2 cores that beats one worker with 2 threads, which mostly waits on kernels and the browser.
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    exec "$PY" -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider \
      -n "${COURSE_TEST_WORKERS:-2}" --dist loadfile "${@:2}" ;;
  bench)
    setup
    exec "$PY" -m benchmarks "${@:2}" ;;
  gallery)
    setup
    exec "$PY" tools/gallery.py "${@:2}" ;;
  fetch)
    setup
    exec "$PY" -m course_lib.fetch "${@:2}" ;;
  *)
    sed -n '2,9p' "$0"; exit 2 ;;
esac
