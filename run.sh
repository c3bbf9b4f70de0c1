#!/usr/bin/env bash
# One entry point for lecturers, students and CI.
#   ./run.sh lecture   set up (first time) and open JupyterLab on the notebooks, offline
#   ./run.sh test      set up (first time) and run every test (library + all notebooks, quick mode)
#   ./run.sh bench     print the benchmark table
#   ./run.sh gallery   execute every notebook in lecture mode into build/gallery/ (HTML)
#   ./run.sh fetch     while online: the slides' networks + paintings into the caches (--list: what is there)
#   ./run.sh doctor    the environment: torch build, venv size, memory after import torch, cached nets
#   ./run.sh soak [N]  flakiness check: the test command N times (default 3) in a clean clone, 1 and 2 threads
#   ./run.sh setup     only set up .venv
set -euo pipefail
cd "$(dirname "$0")"
VENV=${COURSE_VENV:-.venv}
PY="$VENV/bin/python"

setup() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
  fi
  # torch first, pinned: an unpinned torch can pull several GB. tools/choose_torch.py picks the build
  # (CPU-only on Linux without an NVIDIA GPU: 1 GB, not 6) and says why in one line; TORCH_SPEC overrides.
  if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
    torch_args=$("$PY" tools/choose_torch.py)
    "$PY" -m pip install $torch_args \
      || { echo "run.sh: 'pip install $torch_args' failed (see above); TORCH_SPEC=\"<pip arguments>\" picks another source" >&2; exit 1; }
  fi
  if ! "$PY" -c "import course_lib, anywidget, nbval, xdist, jupyterlab, notebook, playwright, polib" 2>/dev/null; then
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
    # With more torch threads than a worker's share of the cores, OpenMP threads that wait must sleep, not spin:
    # 2 workers x 2 threads on 2 cores ran lecture-mode nbconvert of every notebook in 101 s with PASSIVE, 92 s with
    # 1 thread, and 373 s (3 timeouts) with ACTIVE spinning; the default (spin, then sleep) did 63 % of the suite in 12 min.
    export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
    # nbval runs the exercises and the Russian lecture notebooks in quick mode; the English lecture notebooks
    # run in lecture mode at small sizes under stock nbconvert instead (tests/test_standard_tools.py): the same
    # cells, the lecture-only ones included, so running them twice would only cost time.
    exec "$PY" -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider \
      --ignore-glob='notebooks/0*.ipynb' -n "${COURSE_TEST_WORKERS:-2}" --dist loadfile "${@:2}" ;;
  bench)
    setup
    exec "$PY" -m benchmarks "${@:2}" ;;
  soak)
    setup
    exec "$PY" tools/soak.py "${@:2}" ;;
  gallery)
    setup
    exec "$PY" tools/gallery.py "${@:2}" ;;
  fetch)
    setup
    exec "$PY" -m course_lib.fetch "${@:2}" ;;
  doctor)
    setup
    exec "$PY" -m course_lib.doctor "${@:2}" ;;
  *)
    sed -n '2,10p' "$0"; exit 2 ;;
esac
