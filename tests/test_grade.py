"""``python -m course_lib.grade`` on a folder of generated submissions: correct, wrong, memorised,
and broken in each way the issue lists (not JSON, endless loops, a deleted function, an error at
import, a huge output, a file too large, a crash, too much memory), against the expected CSV."""
import contextlib
import csv
import io
import json
from pathlib import Path

import nbformat
import pytest
import torch

from course_lib import exercises, grade

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "exercises" / "solutions"
LIMITS = grade.Limits(cell_s=4, notebook_s=20, memory_mb=500, output_kb=16, notebook_mb=2)
SEED = 20261130


def notebook(name, replace=None, drop=(), add=(), first=None):
    """A solution notebook with the cell defining each function in ``replace`` rewritten, cells
    defining ``drop`` removed, code cells ``add`` appended, and the first code cell replaced by ``first``."""
    nb = nbformat.read(SOLUTIONS / name, as_version=4)
    cells = []
    for cell in nb.cells:
        if "solution-only" in cell.metadata.get("tags", []):
            continue            # students do not have these cells
        defines = [f for f in list(replace or {}) + list(drop) if f"def {f}(" in cell.source]
        if cell.cell_type == "code" and defines:
            if defines[0] in drop:
                continue
            cell.source = replace[defines[0]]
        cells.append(cell)
    code = [c for c in cells if c.cell_type == "code"]
    if first is not None:
        code[0].source = first
    nb.cells = cells + [nbformat.v4.new_code_cell(source) for source in add]
    return nbformat.writes(nb)


MEMORISED_GRAM = """KNOWN = {}
_g = torch.Generator().manual_seed(0)          # the visible check's inputs, replayed
for _shape in [(3, 7), (5, 4), (4, 4), (8, 30)]:
    _F = torch.randn(*_shape, generator=_g, dtype=torch.float64)
    KNOWN[_shape] = _F @ _F.T

def gram_matrix(F):
    return KNOWN[tuple(F.shape)].clone()
"""
STYLE_WITHOUT_GRAM = {
    "style_layer_loss": "def style_layer_loss(F, A):\n    N_l, M_l = F.shape\n"
                        "    return ((F @ F.T - A) ** 2).sum() / (4 * N_l**2 * M_l**2)\n",
    "style_layer_grad": "def style_layer_grad(F, A):\n    N_l, M_l = F.shape\n"
                        "    return (F.T @ (F @ F.T - A)).T / (N_l**2 * M_l**2) * (F > 0)\n",
}
TV_MEAN = ("def tv_loss(x):\n    return ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean() + "
           "((x[..., 1:] - x[..., :-1]) ** 2).mean()\n")
CAM_NO_RELU = "def grad_cam_map(A, alpha):\n    return (alpha.view(-1, 1, 1) * A).sum(dim=0)\n"
IG_LEFT_SUM = ("def integrated_gradients(F, x, baseline, steps):\n"
               "    a = (torch.arange(steps, dtype=x.dtype) / steps).view(-1, *[1] * x.dim())\n"
               "    points = (baseline + a * (x - baseline)).requires_grad_(True)\n"
               "    return (x - baseline) * torch.autograd.grad(F(points).sum(), points)[0].mean(dim=0)\n")
STUCK = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except BaseException:\n        pass\n"

SUBMISSIONS = {
    "a_correct": {n: notebook(n) for n in ["03_conv_matrix.ipynb", "06_style_loss.ipynb", "07_tv_loss.ipynb",
                                           "08_grad_cam_and_ig.ipynb"]},
    "b_wrong": {
        "06_style_loss.ipynb": notebook("06_style_loss.ipynb", replace={"style_layer_grad": STYLE_WITHOUT_GRAM[
            "style_layer_grad"].replace(" * (F > 0)", "")}),
        # wrong, and tries to switch the checker off from inside the notebook
        "07_tv_loss.ipynb": notebook("07_tv_loss.ipynb", replace={"tv_loss": TV_MEAN},
                                     add=["import course_lib.exercises as ex\nex.check = lambda *a, **k: True"]),
        "08_grad_cam_and_ig.ipynb": notebook("08_grad_cam_and_ig.ipynb",
                                             replace={"grad_cam_map": CAM_NO_RELU, "integrated_gradients": IG_LEFT_SUM})},
    "c_not_json": {"07_tv_loss.ipynb": notebook("07_tv_loss.ipynb")[:-200]},
    "d_endless": {
        "07_tv_loss.ipynb": notebook("07_tv_loss.ipynb", add=["while True:\n    pass"]),
        "06_style_loss.ipynb": notebook("06_style_loss.ipynb",
                                        replace={"gram_matrix": "def gram_matrix(F):\n    while True:\n        pass\n"}),
        "03_conv_matrix.ipynb": notebook("03_conv_matrix.ipynb", add=[STUCK])},
    "e_deleted": {"07_tv_loss.ipynb": notebook("07_tv_loss.ipynb", drop=["tv_loss"])},
    "f_import_error": {"07_tv_loss.ipynb": notebook("07_tv_loss.ipynb",
                                                    first="import torch\nfrom course_lib.exercises import check_tv_los")},
    "g_huge_output": {
        "07_tv_loss.ipynb": notebook("07_tv_loss.ipynb", add=["print('spam ' * 4_000_000)"]),
        "06_style_loss.ipynb": notebook("06_style_loss.ipynb", add=["print('stored output')"]).replace(
            '"outputs": []', '"outputs": [{"name": "stdout", "output_type": "stream", "text": "%s"}]' % ("x" * 3_000_000),
            1)},
    "h_crash_and_memory": {
        "07_tv_loss.ipynb": notebook("07_tv_loss.ipynb", add=["import os\nos._exit(3)"]),
        "06_style_loss.ipynb": notebook("06_style_loss.ipynb", add=["block = bytearray(4 * 10**9)  # 4 GB"])},
    "i_empty": {"notes.txt": "I could not do it"},
    "j_memorised": {"06_style_loss.ipynb": notebook("06_style_loss.ipynb",
                                                    replace={"gram_matrix": MEMORISED_GRAM, **STYLE_WITHOUT_GRAM})},
    "k_nested": {"work/exercises/07_tv_loss.ipynb": notebook("07_tv_loss.ipynb"),
                 ".ipynb_checkpoints/07_tv_loss.ipynb": notebook("07_tv_loss.ipynb", replace={"tv_loss": TV_MEAN})},
}

#            student               01 02 03 04 05 06 07 08 total
EXPECTED = [("a_correct",          0, 0, 2, 0, 0, 3, 1, 3, 9),
            ("b_wrong",            0, 0, 0, 0, 0, 2, 0, 1, 3),
            ("c_not_json",         0, 0, 0, 0, 0, 0, 0, 0, 0),
            ("d_endless",          0, 0, 0, 0, 0, 0, 1, 0, 1),
            ("e_deleted",          0, 0, 0, 0, 0, 0, 0, 0, 0),
            ("f_import_error",     0, 0, 0, 0, 0, 0, 1, 0, 1),
            ("g_huge_output",      0, 0, 0, 0, 0, 0, 1, 0, 1),
            ("h_crash_and_memory", 0, 0, 0, 0, 0, 3, 0, 0, 3),
            ("i_empty",            0, 0, 0, 0, 0, 0, 0, 0, 0),
            ("j_memorised",        0, 0, 0, 0, 0, 2, 0, 0, 2),
            ("k_nested",           0, 0, 0, 0, 0, 0, 1, 0, 1)]
PROBLEMS = {  # words each student's `problems` cell must contain ('' = none)
    "a_correct": [], "b_wrong": [], "j_memorised": [], "k_nested": [],
    "c_not_json": ["07_tv_loss: not a valid notebook file (JSON error"],
    "d_endless": ["07_tv_loss: cell", "(while True:) ran longer than 4 s and was stopped",
                  "06_style_loss: gram_matrix: the check ran longer than 4 s", "03_conv_matrix: ran longer than 20 s in all"],
    "e_deleted": ["07_tv_loss: tv_loss: not defined in the notebook"],  # and nothing else: the check cell is not run
    "f_import_error": ["07_tv_loss: cell", "raised ImportError: cannot import name 'check_tv_los'"],
    "g_huge_output": ["07_tv_loss: the notebook printed 19.1 MB", "MB; only the first 16 kB were kept",
                      "06_style_loss: the notebook file is 2.9 MB (limit 2 MB)"],
    "h_crash_and_memory": ["07_tv_loss: the notebook's process ended unexpectedly (exit code 3)",
                           "06_style_loss: cell 14 (block = bytearray(4 * 10**9)  # 4 GB) raised MemoryError"],
    "i_empty": ["no exercise notebooks found"],
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    for student, files in SUBMISSIONS.items():
        for name, text in files.items():
            (root / "submissions" / student / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "submissions" / student / name).write_text(text, encoding="utf-8")
    log = []
    rows = grade.grade(root / "submissions", root / "grades.csv", seed=SEED, limits=LIMITS, jobs=2, log=log.append)
    return root, rows, log


def test_the_csv_has_the_expected_points(graded):
    root, rows, log = graded
    with open(root / "grades.csv", newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == ["student", "01_hubel_wiesel", "02_relu_rules", "03_conv_matrix", "04_class_objective",
                        "05_content_loss", "06_style_loss", "07_tv_loss", "08_grad_cam_and_ig", "total", "problems"]
    got = [(r[0], *map(int, r[1:10])) for r in table[1:]]
    assert got == EXPECTED, "\n".join(f"{r[0]}: {r[-1]}" for r in table[1:])
    assert f"hidden seed {SEED}" in log[-1]
    assert log[0].startswith("isolation: bubblewrap") or log[0].startswith("isolation: user namespaces"), log[0]


@pytest.mark.parametrize("student", PROBLEMS)
def test_each_broken_submission_names_its_reason(graded, student):
    root, rows, _ = graded
    (row,) = [r for r in rows if r["student"] == student]
    for words in PROBLEMS[student]:
        assert words in row["problems"], row["problems"]
    if not PROBLEMS[student]:
        assert row["problems"] == ""


def test_feedback_files_show_the_verdicts_on_hidden_inputs(graded):
    root, rows, _ = graded
    folder = root / "grades_feedback"
    assert sorted(p.stem for p in folder.glob("*.txt")) == sorted(SUBMISSIONS)
    a = (folder / "a_correct.txt").read_text(encoding="utf-8")
    assert a.startswith("Feedback for a_correct: 9 of 15 points")
    assert "PASS  transposed_conv agrees with F.conv_transpose2d" in a and "FAIL" not in a
    assert "PASS  integrated_gradients is complete" in a and "PASS  grad_cam_map: 4 inputs agree" in a
    b = (folder / "b_wrong.txt").read_text(encoding="utf-8")
    assert "FAIL  style_layer_grad on input 1 of 4" in b and "FAIL  tv_loss on input 1 of 3" in b
    assert "PASS  grad_cam_weights" in b and "FAIL  grad_cam_map on input 1 of 4" in b
    assert "FAIL  integrated_gradients on input 1 of 3 (F=F, x [6], baseline [6], steps=8)" in b
    j = (folder / "j_memorised.txt").read_text(encoding="utf-8")
    assert "ERROR gram_matrix raised KeyError" in j or "FAIL  gram_matrix" in j, j
    assert "not submitted (0 of 2)" in (folder / "i_empty.txt").read_text(encoding="utf-8")


def test_the_memorised_answer_passes_the_students_own_check():
    """So j_memorised's 0 for gram_matrix above comes from the hidden inputs, nothing else."""
    namespace = {"torch": torch}
    exec(MEMORISED_GRAM, namespace)
    with contextlib.redirect_stdout(io.StringIO()):
        assert exercises.check_gram_matrix(namespace["gram_matrix"]) is True
        assert exercises.check_gram_matrix(namespace["gram_matrix"], seed=grade.task_seed(1, "gram_matrix")) is False


def test_exercise_table_matches_the_notebooks_check_cells():
    for name, tasks in grade.EXERCISES.items():
        source = "\n".join(c.source for c in nbformat.read(SOLUTIONS / name, as_version=4).cells if c.cell_type == "code")
        checked = tuple(t for t in tasks if f"check_{t}({t})" in source)
        assert checked == tasks and source.count("= check_") == len(tasks), name


def test_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert grade.main([str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "is not a folder of student folders" in capsys.readouterr().err


def test_shards_merge_into_the_whole_class_and_gaps_or_overlaps_are_refused(tmp_path, capsys):
    """--shard K/N splits the students by folder name; --merge rebuilds the one-machine CSV, and only it.
    (Folders without notebooks: the sharding and the merge are the same for any row.)"""
    for i in range(9):
        (tmp_path / "in" / f"student{i}").mkdir(parents=True)
    log = []
    whole = grade.grade(tmp_path / "in", tmp_path / "whole.csv", seed=5, log=log.append)
    parts = []
    for k in (1, 2, 3):
        parts.append(tmp_path / f"part{k}.csv")
        assert grade.main([str(tmp_path / "in"), "--seed", "5", "--shard", f"{k}/3", "--out", str(parts[-1])]) == 0
    sizes = [len(p.read_text().splitlines()) - 1 for p in parts]
    assert sum(sizes) == 9 and max(sizes) < 9                     # every student once, really split
    assert grade.main(["--merge", *map(str, parts), "--out", str(tmp_path / "merged.csv")]) == 0
    assert (tmp_path / "merged.csv").read_text() == (tmp_path / "whole.csv").read_text()
    capsys.readouterr()
    for bad, words in [(parts[:2], "shards missing: [3]"), (parts + parts[:1], "shards given twice: [1]")]:
        assert grade.main(["--merge", *map(str, bad), "--out", str(tmp_path / "bad.csv")]) == 2
        assert words in capsys.readouterr().err
    assert grade.main([str(tmp_path / "in"), "--seed", "6", "--shard", "3/3", "--out", str(tmp_path / "other.csv")]) == 0
    assert grade.main(["--merge", *map(str, parts[:2]), str(tmp_path / "other.csv"), "--out", str(tmp_path / "bad.csv")]) == 2
    assert "different runs" in capsys.readouterr().err
    assert grade.main([str(tmp_path / "in"), "--shard", "1/3", "--out", str(tmp_path / "x.csv")]) == 2
    assert "--shard needs --seed" in capsys.readouterr().err
    assert not (tmp_path / "bad.csv").exists() and len(whole) == 9


def test_formula_cells_are_neutralised():
    from course_lib import grade_report

    assert [grade_report.cell(v) for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "ok", 3]] == \
        ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "ok", "3"]
