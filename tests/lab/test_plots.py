"""ric.lab.plots: figures on their own Agg canvas (no pyplot, no backend switch), the image grid, and one clear
error naming the plots extra when matplotlib is missing."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ric.errors import MissingExtraError, RICError
from ric.lab import plots

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")


def test_a_figure_needs_no_pyplot_and_changes_no_global_state(tmp_path):
    """In a fresh interpreter (this one may have imported pyplot elsewhere): drawing and saving a figure imports
    neither pyplot nor a GUI backend and leaves matplotlib's backend setting alone."""
    code = f"""
import sys
import matplotlib
before = matplotlib.rcParams._get("backend")
from ric.lab import plots
fig, axes = plots.subplots(1, 2, figsize=(4, 2))
axes[0].plot([0, 1], [1, 0])
plots.save(fig, {str(tmp_path / "f.png")!r}, dpi=50)
print("matplotlib.pyplot" in sys.modules, matplotlib.rcParams._get("backend") == before, type(fig.canvas).__name__)
"""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True", "FigureCanvasAgg"]
    assert Image.open(tmp_path / "f.png").size == (200, 100)


def test_image_grid_draws_rows_of_images_with_labels_and_titles(tmp_path):
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 3, 8, 16, generator=g)
    b = np.linspace(0, 1, 3 * 3 * 8 * 16).reshape(3, 3, 8, 16)
    fig = plots.image_grid({"tensor": a, "array": b}, n=2, col_titles=["x", "y"], title="grid", label_rotation=0)
    assert len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes] == ["tensor", "", "array", ""]
    assert [ax.get_title() for ax in fig.axes] == ["x", "y", "", ""]
    assert fig.axes[0].yaxis.label.get_rotation() == 0 and fig.get_suptitle() == "grid"
    shown = fig.axes[2].get_images()[0].get_array()
    assert np.allclose(shown, b[0].transpose(1, 2, 0))         # (C, H, W) drawn as (H, W, C)
    plots.save(fig, str(tmp_path / "g.png"), dpi=100)
    assert Image.open(tmp_path / "g.png").size == (240, 266)  # cell (1.2, 1.33) inches per image


def test_without_matplotlib_every_entry_point_names_the_plots_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # what an interpreter without it sees
    want = "ric attack linkage needs the plots extra (matplotlib is not installed): pip install 'ric[plots]'"
    for call in (lambda: plots.require("ric attack linkage"), lambda: plots.figure("ric attack linkage"),
                 lambda: plots.subplots(2, 2, what="ric attack linkage"),
                 lambda: plots.image_grid({"a": np.zeros((1, 3, 4, 4))}, what="ric attack linkage")):
        with pytest.raises(MissingExtraError) as e:
            call()
        assert str(e.value) == want and isinstance(e.value, RICError) and e.value.exit_code == 16
