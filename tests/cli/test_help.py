"""`ric --help` lists the commands in groups: product, model and lab commands, each command in exactly one."""
from __future__ import annotations

import re

from ric.cli import GROUPS, build_parser


def command_names(parser) -> set[str]:
    return {name for action in parser._actions if hasattr(action, "choices") and isinstance(action.choices, dict)
            for name in action.choices}


def test_every_command_is_in_exactly_one_group():
    listed = [name for _, names in GROUPS for name in names]
    assert len(listed) == len(set(listed))
    assert set(listed) == command_names(build_parser())


def test_help_shows_the_groups_in_order_with_their_commands():
    text = build_parser().format_help()
    assert text.startswith("usage: ric [-h] COMMAND ...\n")
    titles = [m.group(1) for m in re.finditer(r"^(\w[\w ]*commands):$", text, re.M)]
    assert titles == ["product commands", "model commands", "lab commands"]
    product = text[text.index("product commands:"):text.index("model commands:")]
    lab = text[text.index("lab commands:"):]
    assert re.search(r"^  encrypt ", product, re.M) and not re.search(r"^  bench ", product, re.M)
    assert re.search(r"^  bench ", lab, re.M) and re.search(r"^  attack ", lab, re.M)
    assert "{" not in text.split("\n", 1)[0]       # no flat {keygen,encrypt,...} list in the usage line


def test_a_sub_command_keeps_its_own_usage_line():
    sub = next(a for a in build_parser()._actions if isinstance(getattr(a, "choices", None), dict))
    assert sub.choices["bench"].format_usage().startswith("usage: ric bench [-h] NAME ...")


def _importer(missing: str):
    """import_module as in an install where module `missing` cannot be found."""
    from importlib import import_module

    def fake(name):
        if name == missing or name.startswith(missing + "."):
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)
        return import_module(name)
    return fake


def test_a_build_without_the_lab_leaves_its_commands_out(monkeypatch):
    import ric.cli as cli
    monkeypatch.setattr(cli, "import_module", _importer("ric.lab"))
    names = command_names(cli.build_parser())
    assert {"attack", "experiment", "bench"}.isdisjoint(names) and {"encrypt", "serve", "train"} <= names


def test_a_missing_dependency_of_a_command_module_is_raised_not_hidden(monkeypatch):
    import pytest

    import ric.cli as cli
    monkeypatch.setattr(cli, "import_module", lambda name: _importer("r")("r"))   # ric.* present, "r" missing
    with pytest.raises(ModuleNotFoundError) as e:
        cli.build_parser()
    assert e.value.name == "r"
