"""ric.grid: image grids drawn with Pillow alone: a size known in advance, images placed and scaled in their
cells (nearest when enlarging), text written and shortened to its cell."""
import numpy as np
import pytest
import torch
from PIL import Image

from ric.grid import font, grid_size, image_grid, shorten, to_pil

WHITE = (255, 255, 255)


def solid(rgb, h=32, w=32):
    """A float (3, h, w) image of one colour (0..255 values)."""
    return torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1).expand(3, h, w) / 255


def test_size_follows_the_layout_not_the_text():
    assert grid_size(2, 3, cell=64, gap=8, label_width=100, font_size=12) == (100 + 3 * 72 + 8, 2 * 72 + 8)
    assert grid_size(2, 3, cell=64, gap=8, label_width=100, font_size=12, titles=True, captions=True) == (
        324, 18 + 2 * (64 + 18 + 8) + 8)
    rows = {"a row label far too long to fit its column": [solid((255, 0, 0))] * 3, "b": [solid((0, 0, 255))] * 3}
    img = image_grid(rows, col_titles=["x", "y", "a title much wider than its cell of sixty-four"],
                     captions={"a row label far too long to fit its column": ["1", "2", "3"]}, cell=64,
                     label_width=100)
    assert img.mode == "RGB" and img.size == (324, 206)
    assert image_grid(rows, cell=64, label_width=100).size == (324, 152)


def test_a_small_image_is_enlarged_with_nearest_and_placed_in_its_cell():
    g = torch.Generator().manual_seed(0)
    small = (torch.randint(0, 256, (3, 32, 32), generator=g).float() / 255)
    img = np.asarray(image_grid({"r": [solid((255, 0, 0)), small]}, col_titles=["a", "b"], cell=96, gap=8,
                                label_width=100, font_size=12))
    top, x0 = 18 + 8, 100 + 8
    assert (img[top:top + 96, x0:x0 + 96] == (255, 0, 0)).all()
    want = np.repeat(np.repeat((small * 255).round().byte().permute(1, 2, 0).numpy(), 3, 0), 3, 1)
    x1 = x0 + 96 + 8
    assert np.array_equal(img[top:top + 96, x1:x1 + 96], want)
    assert (img[top:top + 96, x0 + 96:x1] == WHITE).all()          # the gap between the cells stays blank


def test_a_wide_image_keeps_its_aspect_ratio_centred_in_its_cell():
    img = np.asarray(image_grid({"r": [solid((0, 255, 0), h=32, w=64), solid((0, 0, 255), h=32, w=128)]}, cell=64,
                                gap=8, label_width=50)).astype(int)
    y, x = 8, 58                                                     # no titles: the first row starts at the gap
    assert (img[y + 16:y + 48, x:x + 64] == (0, 255, 0)).all()       # 64x32 fits as it is, centred vertically
    assert (img[y:y + 16, x:x + 64] == 255).all() and (img[y + 48:y + 64, x:x + 64] == 255).all()
    x = x + 64 + 8                                                   # 128x32 reduced to 64x16
    assert np.abs(img[y + 24:y + 40, x:x + 64] - (0, 0, 255)).max() <= 1
    assert (img[y:y + 24, x:x + 64] == 255).all() and (img[y + 40:y + 64, x:x + 64] == 255).all()


def test_text_is_written_where_the_layout_puts_it():
    rows = {"label": [solid((255, 255, 255))]}
    plain = np.asarray(image_grid(rows, cell=64, label_width=80))
    assert (plain[:, 80:] == 255).all() and plain[:, :80].min() < 128  # only the row label: no title, no caption
    titled = np.asarray(image_grid(rows, col_titles=["title"], captions={"label": ["caption"]}, cell=64,
                                   label_width=80))
    line = 12 + 6
    assert titled[:line].min() < 128                                 # the title above the cell
    assert titled[line + 8 + 64:line + 8 + 64 + line].min() < 128    # the caption under it


def test_text_wider_than_its_cell_is_shortened_with_an_ellipsis():
    f = font(12)
    assert shorten("cat", f, 100) == "cat"
    cut = shorten("a very long class name that cannot fit", f, 60)
    assert cut.endswith("…") and len(cut) < 20 and f.getlength(cut) <= 60


def test_rows_of_different_lengths_and_a_wrong_number_of_titles_are_refused():
    with pytest.raises(ValueError, match="same number of images"):
        image_grid({"a": [solid((0, 0, 0))], "b": [solid((0, 0, 0))] * 2})
    with pytest.raises(ValueError, match="2 column titles for 1 columns"):
        image_grid({"a": [solid((0, 0, 0))]}, col_titles=["x", "y"])


def test_images_come_as_tensors_arrays_or_pil_images():
    a = np.zeros((2, 2, 3), np.uint8)
    a[0, 0] = (10, 20, 30)
    assert to_pil(a).getpixel((0, 0)) == (10, 20, 30)
    t = torch.full((3, 2, 2), 0.5)
    assert to_pil(t).getpixel((1, 1)) == (128, 128, 128)
    assert to_pil(Image.new("L", (2, 2), 7)).getpixel((0, 0)) == (7, 7, 7)
