"""Tile plans: every output position kept exactly once, crops reach `halo` further, strides stay aligned."""
import numpy as np
import pytest

from ric.tiles import needs_tiles, plan


@pytest.mark.parametrize("h,w,tile,halo,stride", [(37, 50, 16, 4, 1), (64, 64, 16, 8, 1), (83, 97, 32, 24, 4),
                                                   (10, 10, 16, 4, 1), (33, 65, 8, 8, 4)])
def test_plan_covers_each_output_once_with_the_halo(h, w, tile, halo, stride):
    ho, wo = -(-h // stride), -(-w // stride)
    hits = np.zeros((ho, wo), int)
    for t in plan(h, w, tile, halo, stride):
        hits[t.out] += 1
        for ax, n in ((0, h), (1, w)):
            crop, inner, out = t.crop[ax], t.inner[ax], t.out[ax]
            assert crop.start % stride == 0 and 0 <= crop.start < crop.stop <= n
            assert inner.stop - inner.start == out.stop - out.start
            assert crop.start // stride + inner.start == out.start          # the kept part is where it belongs
            before, after = out.start * stride - crop.start, crop.stop - out.stop * stride
            assert before >= min(halo, out.start * stride)                   # a full halo, unless the image ends
            assert after >= min(halo, n - out.stop * stride)
    assert (hits == 1).all()


def test_plan_known_answer():
    tiles = plan(10, 4, 4, 2)
    assert [(t.crop[0].start, t.crop[0].stop, t.inner[0].start, t.out[0].start, t.out[0].stop) for t in tiles] == [
        (0, 6, 0, 0, 4), (2, 10, 2, 4, 8), (6, 10, 2, 8, 10)]
    assert all(t.crop[1] == slice(0, 4) for t in tiles)


def test_plan_rejects_misaligned_or_empty_tiles():
    with pytest.raises(ValueError, match="multiples of the stride"):
        plan(32, 32, 10, 8, 4)
    with pytest.raises(ValueError, match="positive"):
        plan(32, 32, 0, 8)


def test_needs_tiles_only_above_the_pixel_count():
    assert not needs_tiles(1024, 1024, 512)           # 2**20 pixels: whole
    assert needs_tiles(1024, 1025, 512)
    assert needs_tiles(3024, 4032, 512)
    assert not needs_tiles(3024, 4032, 0)              # 0: never
    assert needs_tiles(20, 20, 8, above=256) and not needs_tiles(16, 16, 8, above=256)
