"""TiledRIC: F, E and D in tiles, with the squeeze-excitation gates of the whole image."""
import pytest
import torch

from ric.nets import create_ric_model
from ric.nets.tiling import TiledRIC, multiscale_reach


@pytest.mark.parametrize("name", ["tiny", "small_skip", "small"])
def test_tiled_encoder_and_decoder_equal_the_whole_image(name):
    torch.manual_seed(0)
    m = create_ric_model(name).eval()
    g = torch.Generator().manual_seed(1)
    x, n = torch.rand(2, 3, 45, 70, generator=g), torch.rand(2, 3, 45, 70, generator=g)
    t = TiledRIC(m, 16, cache=torch.float32)
    with torch.inference_mode():
        assert torch.allclose(m.encoder_output(x, n), t.encoder_output(x, n), atol=1e-5)
        assert torch.allclose(m.decoder_output(x), t.decoder_output(x), atol=1e-5)


@pytest.mark.parametrize("name", ["tiny", "small_skip"])
def test_the_encoders_float16_caches_move_u_en_by_a_fraction_of_a_level(name):
    torch.manual_seed(0)
    m = create_ric_model(name).eval()
    g = torch.Generator().manual_seed(1)
    x, n = torch.rand(1, 3, 45, 70, generator=g), torch.rand(1, 3, 45, 70, generator=g)
    with torch.inference_mode():
        whole = m.encoder_output(x, n)
        half = TiledRIC(m, 16).encoder_output(x, n)
    assert TiledRIC(m).cache == torch.float16
    diff = float((whole - half).abs().max()) * 255
    assert 0 < diff < 0.05          # rounded (not the float32 path), by far less than one level


def test_reach_of_a_multiscale_block():
    m = create_ric_model("small_skip")
    # widest branch: two 5x5 convs (2 + 2); widest head: two 4x4 convs (2 + 2)
    assert multiscale_reach(m.F) == 8 and TiledRIC(m).rd == 8
    assert multiscale_reach(create_ric_model("paper").F) == 8 + 4     # four convs per branch


def test_gates_are_the_whole_images():
    """Tiles with their own gates (the squeeze-excitation mean of the tile alone) would differ: the test above
    would catch that."""
    torch.manual_seed(0)
    m = create_ric_model("tiny").eval()
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    x[..., :24, :] *= 0.1                               # halves unlike each other
    with torch.inference_mode():
        whole = m.decoder_output(x)
        per_tile = torch.cat([m.decoder_output(x[..., :24, :]), m.decoder_output(x[..., 24:, :])], 2)
        assert not torch.allclose(whole, per_tile, atol=1e-4)
        assert torch.allclose(whole, TiledRIC(m, 24).decoder_output(x), atol=1e-5)


def test_strips_read_across_their_bounds_and_refuse_freed_rows():
    from ric.nets.tiling import _Strips
    from ric.tiles import plan
    x = torch.arange(2 * 3 * 10 * 7, dtype=torch.float32).reshape(2, 3, 10, 7)
    s = _Strips(x, 3, torch.float32, plan(10, 7, 4, 0))
    assert s.bounds == [(0, 4), (4, 8), (8, 10)]
    for t in plan(10, 7, 4, 0):
        s.write(t.out, x[(..., *t.out)])
    assert torch.equal(s.read((slice(2, 9), slice(1, 6))), x[..., 2:9, 1:6])       # three strips
    s.release_above(5)
    assert s.parts[0] is None and s.parts[1] is not None
    assert torch.equal(s.read((slice(4, 10), slice(0, 7))), x[..., 4:, :])
    with pytest.raises(TypeError):
        s.read((slice(3, 6), slice(0, 7)))
