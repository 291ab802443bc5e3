"""Figures without global state: matplotlib imported lazily (the `plots` extra), no pyplot, no backend switch.

Every figure RIC draws goes through here: `figure()` / `subplots()` give a matplotlib Figure on its own Agg
canvas, `image_grid()` draws rows of images, `save()` writes a figure. When matplotlib is not installed each of
them raises MissingExtraError, one line naming the extra (`pip install 'ric[plots]'`); `require()` checks that
up front, before a long run that ends in a figure.
"""
from __future__ import annotations

from ..errors import MissingExtraError, require_extra

EXTRA = "plots"


def require(what: str = "drawing a figure") -> None:
    """Raise MissingExtraError ("<what> needs the plots extra ...") unless matplotlib is installed."""
    require_extra(what, EXTRA, "matplotlib")


def figure(what: str = "drawing a figure", **kwargs):
    """A new matplotlib.figure.Figure (kwargs as for Figure: figsize, dpi, ...) with an Agg canvas attached.
    Nothing global changes: no pyplot figure manager, no matplotlib.use(); the figure is freed with its last
    reference (no close() needed)."""
    require(what)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:      # installed but broken (e.g. a missing compiled part)
        raise MissingExtraError(what, EXTRA, e.name or "matplotlib") from None
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, squeeze: bool = True, what: str = "drawing a figure", **kwargs):
    """(figure, axes) like pyplot.subplots, without pyplot: kwargs go to Figure (figsize, ...), except
    sharex/sharey/subplot_kw/gridspec_kw/width_ratios/height_ratios, which go to Figure.subplots."""
    grid = {k: kwargs.pop(k) for k in ("sharex", "sharey", "subplot_kw", "gridspec_kw", "width_ratios",
                                       "height_ratios") if k in kwargs}
    fig = figure(what, **kwargs)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **grid)


def image_grid(rows: dict, *, n: int | None = None, col_titles=None, title: str = "", cell=(1.2, 1.33),
               pad=(0.0, 0.0), label_rotation: float = 90, what: str = "drawing a figure"):
    """A grid of images, one row per entry of `rows` ({row label: float (N, 3, H, W) tensor or array in [0, 1]}):
    the first `n` images of each (default: as many as every row has), no ticks, the row label on the left
    (`label_rotation` 0 writes it horizontally), optional column titles and a title above. Size: `cell` inches
    (width, height) per image plus `pad` inches. Returns the Figure (write it with `save`)."""
    import numpy as np
    most = min(len(v) for v in rows.values())
    n = most if n is None else min(n, most)
    fig, axes = subplots(len(rows), n, squeeze=False, what=what,
                         figsize=(cell[0] * n + pad[0], cell[1] * len(rows) + pad[1]))
    label_kw = {} if label_rotation == 90 else {"rotation": label_rotation, "ha": "right", "va": "center"}
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(n):
            img = imgs[c]
            img = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
            ax = axes[r][c]
            ax.imshow(np.clip(img, 0, 1).transpose(1, 2, 0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8, **label_kw)
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def save(fig, path: str, dpi: int = 110, tight: bool = True) -> str:
    """Write the figure (format from the file name's extension), after tight_layout unless tight=False."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path
