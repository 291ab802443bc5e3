"""The product does not import the lab: no module of src/ric outside ric.lab imports ric.lab, absolutely or
relatively, at any depth (a function's lazy import counts too). The `ric` command reaches the lab's commands only
through the module names of its command table (ric.cli.COMMANDS), imported by name when the parser is built."""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
LAB = "ric.lab"


def module_name(path: str, src: str = SRC) -> str:
    """`src/ric/files/engine.py` -> `ric.files.engine`; a package's __init__.py -> the package."""
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `tree`; for `from X import a, b` both X and X.a, X.b
    (a name may be a submodule), relative imports resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = from_base(node, package)
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def from_base(node: ast.ImportFrom, package: str) -> str:
    """The absolute module X of `from X import …`, a relative X resolved against `package`."""
    base = node.module or ""
    if not node.level:
        return base
    anchor = package.split(".")
    anchor = anchor[:len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([base] if base else []))


def into_lab(name: str) -> bool:
    return name == LAB or name.startswith(LAB + ".")


def all_modules() -> list[str]:
    """Every .py file of the package, the lab included."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(SRC, "ric")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".py")]
    return found


def product_modules() -> list[str]:
    return [p for p in all_modules() if not into_lab(module_name(p))]


def lab_imports(path: str, src: str = SRC) -> list[str]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    module = module_name(path, src)
    hits = imported(tree, module, path.endswith("__init__.py"))
    return [f"{os.path.relpath(path, ROOT)}:{line}: {name}" for line, name in hits if into_lab(name)]


# -- the check's own parts ---------------------------------------------------------------------------------
def test_relative_imports_resolve_against_the_module():
    tree = ast.parse("from ..lab import plots\nfrom . import lab\nfrom .lab.bench import x\nimport ric.lab.bench\n"
                     "from ..files import engine\n")
    assert imported(tree, "ric.cli.crypt", False) == [
        (1, "ric.lab"), (1, "ric.lab.plots"), (2, "ric.cli"), (2, "ric.cli.lab"), (3, "ric.cli.lab.bench"),
        (3, "ric.cli.lab.bench.x"), (4, "ric.lab.bench"), (5, "ric.files"), (5, "ric.files.engine")]
    # in a package's __init__, `.` is the package itself
    assert imported(ast.parse("from .lab import bench\n"), "ric", True) == [(1, "ric.lab"), (1, "ric.lab.bench")]


def test_the_check_flags_an_import_into_the_lab(tmp_path):
    fake = tmp_path / "src" / "ric" / "files"
    fake.mkdir(parents=True)
    (fake / "engine.py").write_text("def f():\n    from ..lab.attacks import common\n    import ric.lab\n")
    hits = lab_imports(str(fake / "engine.py"), str(tmp_path / "src"))
    assert [h.split(": ", 1)[1] for h in hits] == ["ric.lab.attacks", "ric.lab.attacks.common", "ric.lab"]


def test_the_walk_covers_the_product_and_skips_the_lab():
    names = {module_name(p) for p in product_modules()}
    assert {"ric", "ric.cli", "ric.files.engine", "ric.service.app", "ric.schemes.sealed.codec"} <= names
    assert not any(into_lab(n) for n in names)


# -- the product -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", product_modules(), ids=lambda p: os.path.relpath(p, SRC))
def test_the_product_does_not_import_the_lab(path):
    assert lab_imports(path) == []


def test_the_command_table_names_the_lab_by_module_only():
    from ric.cli import COMMANDS
    lab = [module for module, _, _ in COMMANDS if module.startswith("lab.")]
    assert lab == ["lab.attacks.cli", "lab.experiments.cli", "lab.bench.cli"]


# -- every package-internal import names a module that exists (a lazy import is only run when its path is) ----------
def missing_modules(path: str, src: str = SRC) -> list[str]:
    """`from ric.X import a` (absolute or relative, at any depth) where the module ric.X is not in the tree."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    module = module_name(path, src)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    bases = {(node.lineno, from_base(node, package)) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    out = []
    for line, name in sorted(bases):
        if name.split(".")[0] != module.split(".")[0]:
            continue                                                  # another package
        where = os.path.join(src, *name.split("."))
        if not (os.path.isfile(where + ".py") or os.path.isfile(os.path.join(where, "__init__.py"))):
            out.append(f"{os.path.relpath(path, src)}:{line}: {name}")
    return out


def test_the_import_check_flags_a_module_that_is_not_there(tmp_path):
    lab = tmp_path / "src" / "ric" / "lab" / "bench"
    lab.mkdir(parents=True)
    for d in (lab.parent.parent, lab.parent, lab):
        (d / "__init__.py").write_text("")
    (tmp_path / "src" / "ric" / "schemes.py").write_text("")
    (lab / "cloud.py").write_text("def f():\n    from ..schemes import x\n    from ...schemes import y\n")
    assert missing_modules(str(lab / "cloud.py"), str(tmp_path / "src")) == [
        f"{os.path.join('ric', 'lab', 'bench', 'cloud.py')}:2: ric.lab.schemes"]


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: os.path.relpath(p, SRC))
def test_every_import_from_the_package_names_a_module_that_exists(path):
    assert missing_modules(path) == []
