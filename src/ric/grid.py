"""Image grids drawn with Pillow alone (a core dependency): what `ric demo` shows, with no plotting extra.

`image_grid(rows, col_titles=..., captions=...)` returns an RGB `PIL.Image`: one row per entry of `rows`
({row label: images}), one column per image, the row label left of each row, an optional title above each
column and an optional caption under each image. Every image is fitted into a square cell of `cell` pixels,
its aspect ratio kept and centred: enlarged with nearest-neighbour (a 32×32 image stays sharp pixels), reduced
with Lanczos. Text uses Pillow's built-in font (`ImageFont.load_default(size=...)`: no font file, nothing
fetched) and is cut with "…" where it is wider than its cell.

The layout is fixed by the arguments, not by the text, so the size is known in advance (`grid_size`):

    width  = label_width + n_columns · (cell + gap) + gap
    height = title_height + n_rows · (cell + caption_height + gap) + gap

with title_height = line (`font_size` + 6) when there are column titles, else 0, and caption_height = line
when there are captions, else 0.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)


def grid_size(n_rows: int, n_cols: int, *, cell: int = 128, gap: int = 8, label_width: int = 120,
              font_size: int = 12, titles: bool = False, captions: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of the image `image_grid` draws with these settings."""
    line = font_size + 6
    width = label_width + n_cols * (cell + gap) + gap
    height = (line if titles else 0) + n_rows * (cell + (line if captions else 0) + gap) + gap
    return width, height


def to_pil(img) -> Image.Image:
    """An RGB PIL image from a PIL image, a float (3, H, W) tensor/array in [0, 1] or a uint8 (H, W, 3) array."""
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    a = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(a), "RGB")


def fit(img: Image.Image, cell: int) -> Image.Image:
    """`img` scaled to fit a cell × cell square, aspect ratio kept (nearest when enlarging, Lanczos when reducing)."""
    scale = min(cell / img.width, cell / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if size == img.size:
        return img
    return img.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)


def font(size: int):
    """Pillow's built-in font at `size` px (the bitmap default where Pillow was built without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):
        return ImageFont.load_default()


def shorten(text: str, fnt, width: int) -> str:
    """`text`, cut and ended with "…" so that it is at most `width` pixels wide in `fnt`."""
    if fnt.getlength(text) <= width:
        return text
    while text and fnt.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def image_grid(rows: Mapping[str, Sequence], *, col_titles: Sequence[str] | None = None,
               captions: Mapping[str, Sequence[str]] | None = None, cell: int = 128, gap: int = 8,
               label_width: int = 120, font_size: int = 12) -> Image.Image:
    """The grid of `rows` ({label: images}; every row as long as the first); `captions` ({row label: one text per
    image}, rows may be missing) are written under the images. Sizes as in `grid_size`."""
    n_cols = len(next(iter(rows.values()))) if rows else 0
    if any(len(v) != n_cols for v in rows.values()):
        raise ValueError("every row of an image grid needs the same number of images")
    if col_titles is not None and len(col_titles) != n_cols:
        raise ValueError(f"{len(col_titles)} column titles for {n_cols} columns")
    line = font_size + 6
    size = grid_size(len(rows), n_cols, cell=cell, gap=gap, label_width=label_width, font_size=font_size,
                     titles=col_titles is not None, captions=captions is not None)
    canvas = Image.new("RGB", size, BACKGROUND)
    draw, fnt = ImageDraw.Draw(canvas), font(font_size)
    top = line if col_titles is not None else 0
    x0 = label_width + gap
    for c, title in enumerate(col_titles or ()):
        _centred(draw, fnt, title, x0 + c * (cell + gap), 2, cell)
    row_h = cell + (line if captions is not None else 0) + gap
    for r, (label, imgs) in enumerate(rows.items()):
        y = top + gap + r * row_h
        draw.text((gap, y + cell // 2), shorten(label, fnt, label_width - gap), fill=INK, font=fnt, anchor="lm")
        for c, img in enumerate(imgs):
            x = x0 + c * (cell + gap)
            im = fit(to_pil(img), cell)
            canvas.paste(im, (x + (cell - im.width) // 2, y + (cell - im.height) // 2))
            if captions is not None and label in captions:
                _centred(draw, fnt, captions[label][c], x, y + cell + 2, cell)
    return canvas


def _centred(draw, fnt, text: str, x: int, y: int, width: int) -> None:
    draw.text((x + width // 2, y), shorten(text, fnt, width), fill=INK, font=fnt, anchor="mt")
