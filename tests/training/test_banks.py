"""The one NAE bank (`ric.training.banks`): rows, blocks, the reached-rows rule and the sampler by label."""
import hashlib

import pytest
import torch

from ric.keys import Key
from ric.nae import PhiConfig
from ric.noise import noise_image
from ric.training import banks

PHI = PhiConfig(lr=0.2, max_steps=20, margin=3.0, chunk=2)
KEY = Key(bytes(range(32)))


def nonce(i):
    return hashlib.sha256(f"test/{i}".encode()).digest()[:16]


def test_rows_are_keyed_noise_per_label_and_blocks_do_not_change_them(toy_classifier):
    one = banks.build(toy_classifier, [2, 0, 2], 3, (3, 16, 16), PHI, KEY, nonce, show=False)
    assert one["labels"].tolist() == [0, 0, 0, 2, 2, 2]          # each distinct label, ascending, per_class times
    assert torch.equal(one["noise"][4], noise_image(KEY, nonce(4), (3, 16, 16)))
    assert one["success"].dtype == torch.uint8 and one["n_adv"].shape == (6, 3, 16, 16)
    assert 0 <= float(one["n_adv"].min()) and float(one["n_adv"].max()) <= 1
    blocks = banks.build(toy_classifier, [0, 2], 3, (3, 16, 16), PHI, KEY, nonce, show=False, block=4)
    assert blocks.keys() == one.keys() and all(torch.equal(one[k], blocks[k]) for k in one)


def test_cached_reads_the_stored_bank_without_running_phi(toy_classifier, tmp_path, monkeypatch):
    path = str(tmp_path / "b" / "bank.safetensors")
    built = banks.cached(path, toy_classifier, [0, 1], 2, (3, 16, 16), PHI, KEY, nonce, show=False)
    monkeypatch.setattr(banks, "generate_nae", lambda *a, **k: pytest.fail("Φ ran for a stored bank"))
    again = banks.cached(path, toy_classifier, [0, 1], 2, (3, 16, 16), PHI, KEY, nonce, show=False)
    assert all(torch.equal(built[k], again[k]) for k in built)


def _bank(success):
    n = len(success)
    return {"n_adv": torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 2, 2),
            "noise": -torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 2, 2),
            "labels": torch.tensor([0, 0, 0, 1, 1, 2]), "success": torch.tensor(success, dtype=torch.uint8)}


def test_reached_keeps_successful_rows_and_every_row_of_a_label_that_has_none():
    keep, missing = banks.reached(_bank([1, 0, 1, 0, 0, 1]))
    assert keep.tolist() == [True, False, True, True, True, True] and missing == [1]
    keep, missing = banks.reached(_bank([0] * 6))
    assert keep.all() and missing == [0, 1, 2]


def test_draw_prefers_reached_rows_falls_back_and_refuses_an_unknown_label():
    bank = _bank([1, 0, 1, 0, 0, 1])
    rows = banks.draw(bank, torch.tensor([0] * 50 + [1] * 50), torch.Generator().manual_seed(0))[:, 0, 0, 0]
    assert set(rows[:50].tolist()) == {0.0, 2.0}          # label 0: only its reached rows 0 and 2
    assert set(rows[50:].tolist()) == {3.0, 4.0}          # label 1: none reached, so all of its rows
    noise = banks.draw(bank, torch.tensor([2]), torch.Generator().manual_seed(0), "noise")
    assert float(noise[0, 0, 0, 0]) == -5.0
    del bank["success"]                                    # a bank without it: every row counts
    assert set(banks.draw(bank, torch.tensor([0] * 50), torch.Generator().manual_seed(0))[:, 0, 0, 0].tolist()) \
        == {0.0, 1.0, 2.0}
    with pytest.raises(ValueError, match="no entry for label 7"):
        banks.draw(bank, torch.tensor([7]), torch.Generator())


def test_draw_on_all_rows_equals_the_old_training_sampler_on_the_kept_rows():
    """`ric train` used to keep only the reached rows (`reached`) and sample among them per label; `draw` on the
    whole bank makes the same draws from the same generator (what keeps its numbers)."""
    bank = _bank([1, 0, 1, 0, 0, 1])
    keep, _ = banks.reached(bank)
    kept_n_adv, kept_labels = bank["n_adv"][keep], bank["labels"][keep]
    targets = torch.tensor([2, 0, 1, 1, 0, 0, 2, 1])

    def old_sample(gen):          # training/ric.py's sample_nae before the banks were one
        idx = torch.empty(len(targets), dtype=torch.long)
        for c in targets.unique().tolist():
            pool = (kept_labels == c).nonzero().squeeze(1)
            sel = targets == c
            idx[sel] = pool[torch.randint(len(pool), (int(sel.sum()),), generator=gen)]
        return kept_n_adv[idx]

    for seed in range(5):
        assert torch.equal(banks.draw(bank, targets, torch.Generator().manual_seed(seed)),
                           old_sample(torch.Generator().manual_seed(seed)))
