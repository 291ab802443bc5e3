"""RIC networks: configurations, shapes, the SRL blend and subtraction, and the quantiser Q."""
import pytest
import torch

from ric.nets import create_ric_model, list_ric_models
from ric.nets.blocks import conv_stack
from ric.nets.ric import quantize, srl_blend, srl_subtract


def test_paper_configuration_parameter_count():
    # the authors' released model has ~2.8 M parameters (DESIGN.md)
    n = sum(p.numel() for p in create_ric_model("paper").parameters())
    assert n == 2_793_981


def test_registry_lists_configs():
    assert {"paper", "small", "small_skip", "tiny"} <= set(list_ric_models())
    with pytest.raises(KeyError, match="unknown RIC model architecture"):
        create_ric_model("nope")


@pytest.mark.parametrize("hw", [(16, 16), (17, 23), (32, 8)])
def test_fully_convolutional_any_size(hw):
    m = create_ric_model("tiny").eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        xp = m.encode(x, x)
        assert xp.shape == x.shape
        assert m.decode(xp, x).shape == x.shape


def test_four_by_four_branch_needs_even_depth():
    with pytest.raises(ValueError, match="even depth"):
        conv_stack(3, 4, 4, 3)


def test_srl_blend_and_subtract_invert():
    u, n = torch.rand(2, 3, 5, 5), torch.rand(2, 3, 5, 5)
    assert torch.allclose(srl_subtract(srl_blend(u, n, 0.8), n, 0.8), u, atol=1e-5)
    assert torch.allclose(srl_blend(u, n, 0.8), 0.2 * u + 0.8 * n)


def test_quantize_inference_rounds_to_8_bit():
    x = torch.tensor([-0.1, 0.0, 0.5, 1.2, 0.7])
    q = quantize(x, training=False)
    assert torch.equal(q * 255, torch.round(q * 255))
    assert q.tolist()[:2] == [0.0, 0.0] and q[3] == 1.0
    assert abs(q[4].item() - 178 / 255) < 1e-7


def test_quantize_training_noise_is_bounded_and_differentiable():
    x = torch.full((10000,), 0.5, requires_grad=True)
    q = quantize(x, training=True)
    err = (q - 0.5) * 255
    assert err.abs().max() <= 0.5 and err.std() > 0.2
    q.sum().backward()
    assert torch.all(x.grad == 1)


def test_quantize_training_noise_comes_from_the_given_generator_like_rand_like():
    """With a generator the noise is what torch.rand_like(x) draws from a generator in the same state, in x's own
    memory layout (a channels-last tensor gets its draws in memory order), and the global state is not used."""
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    for t in (x, x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)):      # NCHW and channels-last
        torch.manual_seed(11)
        ref = torch.clamp(255 * t + (torch.rand_like(t) - 0.5), 0, 255) / 255
        state = torch.get_rng_state()
        got = quantize(t, training=True, generator=torch.Generator().manual_seed(11))
        assert torch.equal(got, ref) and torch.equal(torch.get_rng_state(), state)
        torch.manual_seed(11)
        assert torch.equal(quantize(t, training=True), ref)                    # None: the global generator
    other = quantize(x, training=True, generator=torch.Generator().manual_seed(12))
    assert not torch.equal(other, quantize(x, training=True, generator=torch.Generator().manual_seed(11)))


def test_lambda_range():
    with pytest.raises(ValueError):
        create_ric_model("tiny", lam=1.0)


def test_skip_configuration_wiring_known_answer():
    """small_skip with E's and D's output convs zeroed is exactly u_en = x, x̃ = u': the recovery error is the
    8-bit rounding of x' amplified by 1/(1-λ) = 5, at most 2.5/255."""
    m = create_ric_model("small_skip").eval()
    with torch.no_grad():
        for conv in (m.E_out, m.D_out):
            conv.weight.zero_()
            conv.bias.zero_()
        x, n = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
        assert torch.allclose(m.encode(x, n), 0.2 * x + 0.8 * n, atol=1e-6)
        err = (m.decode(quantize(m.encode(x, n), False), n) - x).abs().max()
    assert err <= 2.5 / 255 + 1e-5
