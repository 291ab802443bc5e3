"""`--engine ray` refusals that come before any cluster: under torchrun, and without the ray extra."""
import importlib.util
import os

import pytest

import ric
from ric.cli import main

SAMPLE = os.path.join(os.path.dirname(ric.__file__), "samples", "cat_03897.png")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "k.key"]) == 0
    return tmp_path


def test_engine_ray_is_refused_under_torchrun(here, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["encrypt", "--key", "k.key", "--engine", "ray", "--out", "enc", SAMPLE]) == 2
    assert "--engine ray runs one driver" in capsys.readouterr().err
    assert not os.path.exists("enc/cat_03897.png")


def test_engine_ray_without_the_extra_names_it(here, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["encrypt", "--key", "k.key", "--engine", "ray", "--out", "enc", SAMPLE]) == 16
    err = capsys.readouterr().err.strip()
    assert err == "ric: error: --engine ray needs the ray extra (ray is not installed): pip install 'ric[ray]'"
