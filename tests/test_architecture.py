"""The layers of course_lib (see its ``__init__``): imports go down or sideways, never up, never in a circle.

Read with ``ast``, nothing is imported. Also: no course_lib module is imported inside a function (that is
how a circle hides), and ``tools/`` and ``benchmarks/`` never import each other.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"
LAYERS = {   # rank: higher may import lower; a module not listed is a technique
    "base": (0, {"config", "i18n", "assets", "images", "samples", "generated_art", "hooks", "progress",
                 "live_output", "efficientnet_lite", "course_model", "inference_net", "models", "style_checks"}),
    "display": (1, {"display"}),
    "techniques": (2, set()),
    "course": (3, {"checker", "exercises", "exercises_attribution", "grade", "grade_checks", "grade_session", "grade_sandbox", "grade_zygote", "grade_worker",
                "grade_wire", "grade_report"}),
    "programs": (4, {"fetch", "doctor", "notebook_runner"}),
    "package": (5, {"__init__"}),    # the public names (course_lib.grad_cam, ...), re-exported from any layer
}


def layer(module: str) -> tuple:
    return next(((rank, name) for name, (rank, members) in LAYERS.items() if module in members), (2, "techniques"))


def imports(path: Path, package: str = "course_lib"):
    """[(imported module, line, inside a function?)] of ``package``'s modules imported by the file at ``path``."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:                                  # from . import x / from .x import y
                    names = [base] if base else [a.name for a in child.names]
                elif base == package:                            # from course_lib import x, y
                    names = [a.name for a in child.names]
                elif base.startswith(package + "."):             # from course_lib.x import y
                    names = [base.split(".")[1]]
                else:
                    names = []
                found.extend((n.split(".")[0], child.lineno, in_function) for n in names)
            elif isinstance(child, ast.Import):
                found.extend((a.name.split(".")[1] if "." in a.name else a.name, child.lineno, in_function)
                             for a in child.names if a.name == package or a.name.startswith(package + "."))
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def graph() -> dict:
    """{module: {imported course_lib module}}, submodules only (``from course_lib import QUICK`` is not one)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {p.stem: {m for m, _, _ in imports(p) if m in modules and m != p.stem} for p in PACKAGE.glob("*.py")}


def test_no_import_goes_up_a_layer():
    up = []
    for path in sorted(PACKAGE.glob("*.py")):
        for module, line, _ in imports(path):
            if (PACKAGE / f"{module}.py").exists() and layer(module)[0] > layer(path.stem)[0]:
                up.append(f"course_lib/{path.name}:{line} ({layer(path.stem)[1]}) imports {module} ({layer(module)[1]})")
    assert not up, "an import goes up a layer (see course_lib/__init__.py):\n" + "\n".join(up)


def test_no_circle():
    edges, circles = graph(), []

    def walk(module, path):
        for target in sorted(edges[module]):
            if target in path:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done:
                walk(target, path + [target])
        done.add(module)

    done = set()
    for module in sorted(edges):
        if module not in done:
            walk(module, [module])
    assert not circles, "modules that import each other:\n" + "\n".join(sorted(set(circles)))


def test_no_course_lib_import_inside_a_function():
    hidden = [f"course_lib/{p.name}:{line} imports {m}" for p in sorted(PACKAGE.glob("*.py"))
              for m, line, inside in imports(p) if inside]
    assert not hidden, "import these at the top of the module (an import in a function hides a circle):\n" + "\n".join(hidden)


def test_tools_and_benchmarks_do_not_import_each_other():
    crossing = [f"{p.relative_to(ROOT)}:{line} imports {other}.{m}"
                for folder, other in (("tools", "benchmarks"), ("benchmarks", "tools"))
                for p in sorted((ROOT / folder).rglob("*.py")) for m, line, _ in imports(p, other)]
    assert not crossing, "\n".join(crossing)
