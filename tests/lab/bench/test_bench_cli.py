"""`ric bench NAME` (ric.lab.bench.cli): the parser (benchmarks, options, defaults, clear errors), a torch-free --help,
and tiny runs that print the expected tables and machine line. Nothing here depends on how fast anything runs."""
import argparse
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch

from ric.lab.bench.cli import add_parsers, main, run_bench

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MACHINE = re.compile(r"machine: \S+, \d+ CPUs \(.*\), torch \S+, 1 threads; load average before \d+\.\d\d, "
                     r"after \d+\.\d\d")


def parse(argv: list[str]) -> argparse.Namespace:
    """What the main CLI does with `ric bench ...` once the lead registers the parser."""
    ap = argparse.ArgumentParser(prog="ric")
    sub = ap.add_subparsers(dest="cmd")
    add_parsers(sub)
    return ap.parse_args(["bench", *argv])


def bench(argv: list[str], capsys) -> str:
    assert run_bench(parse(argv)) == 0
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def keep_threads():
    """The benchmarks set torch's thread count (--threads); restore it after each test."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def toy(tmp_path_factory, toy_pair):
    """The toy pair (conftest) and a 'cifar10.npz' of six random 32x32 images beside it: the whole speed
    benchmark in seconds, without ../shared/data."""
    d = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    np.savez(d / "cifar10.npz", x_train=x, y_train=np.zeros(6, np.int64), x_test=x, y_test=np.zeros(6, np.int64))
    return {"dir": str(d), "model": toy_pair["model"], "classifier": toy_pair["classifier"]}


# -- the parser ----------------------------------------------------------------------------------------------------

def test_bench_has_its_benchmarks_with_the_scripts_defaults():
    a = parse(["speed", "--size", "32"])
    assert (a.bench, a.n, a.threads, a.repeat, a.data, a.stages_only, a.phi_steps, a.max_retries, a.skip, a.phi,
            a.no_warmup, a.model, a.classifier) == ("speed", None, 2, 3, "../shared/data", False, 3, 8, [], None,
                                                    False, None, None)
    a = parse(["schemes"])
    assert (a.data, a.n, a.threads, a.files_only, a.repeat, a.workers) == (
        "../shared/data/cifar10.npz", 200, 2, False, 1, [0])
    a = parse(["classify", "--classifier", "cifar10", "--data", "cifar10.npz"])
    assert (a.root, a.n, a.batch, a.repeat, a.threads) == ("../shared/data", 100, 25, 3, 1)
    a = parse(["service"])
    assert (a.n, a.files_per_request, a.concurrency, a.classifier, a.db, a.pool, a.kill_at, a.worst_request,
            a.max_files, a.max_side, a.max_images, a.server_args, a.max_seconds, a.json) == (
        2000, 1, 16, "cifar10", None, None, None, False, 64, 1024, None, "", 900, None)
    a = parse(["phi-reach", "celeba64", "8", "--set", "lr=0.2", "--set", "max_steps=300"])
    assert (a.model, a.n, a.view, a.target, a.data, a.set, a.threads) == (
        "celeba64", 8, 0.8, None, None, [("lr", "0.2"), ("max_steps", "300")], 1)
    a = parse(["sealed-attack", "--data", "x.npz", "--cfg", "lr=0.1,margin=2"])
    assert (a.classifier, a.n, a.seed, a.split, a.threads, a.cfg) == ("cifar10", 8, 0, "train", 1, ["lr=0.1,margin=2"])


def test_typed_options_are_parsed():
    a = parse(["speed", "--size", "160", "--skip", "sweeps,threads,chunk", "--phi", '{"lr": 0.05, "margin": 1.0}'])
    assert a.skip == ["sweeps", "threads", "chunk"] and a.phi == {"lr": 0.05, "margin": 1.0}
    assert parse(["schemes", "--workers", "1,2"]).workers == [1, 2]


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: NAME"),
    (["nope"], "invalid choice: 'nope'"),
    (["speed"], "the following arguments are required: --size"),
    (["speed", "--size", "48"], "invalid choice: 48"),
    (["speed", "--size", "32", "--n", "0"], "argument --n: must be at least 1, got 0"),
    (["speed", "--size", "32", "--repeat", "two"], "argument --repeat: expected a whole number, got 'two'"),
    (["speed", "--size", "32", "--skip", "sweeps,bogus"], "unknown part(s) bogus; the parts are sweeps,authors,"),
    (["speed", "--size", "32", "--phi", "[1]"], "expected a JSON object"),
    (["speed", "--size", "32", "--phi", "{lr"], "argument --phi: not JSON"),
    (["schemes", "--workers", "1,x"], "expected comma-separated whole numbers, got '1,x'"),
    (["schemes", "--workers", "-1"], "thread counts are at least 0"),
    (["classify", "--data", "x.npz"], "the following arguments are required: --classifier"),
    (["service", "--concurrency", "0"], "argument --concurrency: must be at least 1"),
    (["phi-reach", "mnist"], "the following arguments are required: n"),
    (["phi-reach", "mnist", "4", "--set", "lr"], "argument --set: expected FIELD=VALUE, got 'lr'"),
    (["sealed-attack", "--data", "x.npz", "--split", "val"], "invalid choice: 'val'"),
])
def test_bad_options_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        parse(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_inputs_at_run_time_are_clear_errors(tmp_path, toy, capsys):
    with pytest.raises(FileNotFoundError, match="no such dataset"):
        run_bench(parse(["classify", "--classifier", "cifar10", "--data", "absent.npz", "--root", str(tmp_path)]))
    with pytest.raises(ValueError, match="--model and --classifier go together"):
        run_bench(parse(["speed", "--size", "32", "--model", toy["model"]]))
    with pytest.raises(ValueError, match="no image size known for 'toy.safetensors': pass --data"):
        run_bench(parse(["phi-reach", "toy.safetensors", "4"]))
    with pytest.raises(ValueError, match="'bogus=1' is not FIELD=VALUE of a SealedConfig field"):
        run_bench(parse(["sealed-attack", "--data", "absent.npz", "--cfg", "lr=0.1,bogus=1"]))
    with pytest.raises(ValueError, match="no .png ciphertexts in"):
        run_bench(parse(["service", "--pool", str(tmp_path)]))
    assert main(["speed", "--size", "32", "--data", str(tmp_path)]) == 2   # python -m ric.lab.bench: message, exit 2
    assert "ric bench speed: error: " in capsys.readouterr().err


def test_help_imports_no_torch():
    code = ("import sys\nfrom ric.lab.bench.cli import main\ntry:\n    main(['speed', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('HEAVY', sorted(m for m in ('torch', 'numpy', 'httpx') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--stages-only" in r.stdout and "HEAVY []" in r.stdout


def test_model_card_commands_parse():
    """Every `ric bench ...` a model card quotes is a valid command (optional [...] parts left out)."""
    cards = glob.glob(os.path.join(ROOT, "src", "ric", "weights", "*.md"))
    commands = []
    for card in cards:
        with open(card, encoding="utf-8") as f:
            commands += re.findall(r"`(ric bench [^`]+)`", f.read())
    assert len(commands) >= 5
    for cmd in commands:
        parse(shlex.split(re.sub(r"\[[^\]]*\]", "", " ".join(cmd.split())))[2:])


# -- tiny runs -----------------------------------------------------------------------------------------------------

def test_speed_times_the_authors_phi_from_noise_beside_moving_class_starts(toy, toy_pair_copy, capsys):
    """The authors' Φ has no class starts: with a classifier that has some (here starts that move with each image),
    its stage runs from the keyed noise alone instead of failing on starts it was never given."""
    from ric import hub
    from ric.starts import SHIFT_FLIP, ClassStarts, fit_starts, save_starts, starts_path
    clf = hub.load_classifier(toy_pair_copy["classifier"])
    lam = float(hub.load_ric_model(toy_pair_copy["model"]).module.lam)
    p, rec = fit_starts(clf.module, (3, 32, 32), 0.3, lam, 1.0, steps=2, per_class=1, moves=SHIFT_FLIP)
    starts = ClassStarts(p, 0.3, lam, clf.identity, rec, SHIFT_FLIP)
    save_starts(starts, starts_path(toy_pair_copy["classifier"]))
    out = bench(["speed", "--size", "32", "--n", "2", "--threads", "1", "--repeat", "1", "--data", toy["dir"],
                 "--model", toy_pair_copy["model"], "--classifier", toy_pair_copy["classifier"], "--skip",
                 "sweeps,equal,chunk,cold,threads,sealed", "--no-warmup"], capsys)
    assert f"ratios: class starts {starts.digest} (α 0.3)" in out
    assert "| Φ authors (lr 0.01, 100 steps) |" in out and "encrypt, in memory, authors' Φ (no retries)" in out


def test_speed_prints_its_tables_machine_and_json(toy, capsys):
    out = bench(["speed", "--size", "32", "--n", "3", "--threads", "1", "--repeat", "1", "--data", toy["dir"],
                 "--model", toy["model"], "--classifier", toy["classifier"], "--skip", "sweeps,authors,chunk",
                 "--no-warmup"], capsys)
    assert "## 32x32, n=3: RIC model" in out
    assert MACHINE.search(out), out
    assert "| path | s/img | img/s |\n|---|---|---|\n| classify, plaintext (forward pass, the codec's batches) |" in out
    for row in ("encrypt, files, with the n_adv chunk", "decrypt, files, fast, round-1 settings", "| stage | ms/img |",
                "| PNG read + authenticate + unseal n_adv |"):
        assert row in out
    assert "authors" not in out.split("| stage | ms/img |")[1].split("\n\n")[0]   # --skip authors: no such row
    res = json.loads(out.split("\nJSON ", 1)[1])
    assert (res["size"], res["n"], res["threads"]) == (32, 3, 1)
    assert res["fast_unsealed_exact"] is True and "lr_sweep" not in res and "phi_chunk_s" not in res
    # the targets as ratios of this run; the toy classifier has no class starts, so no "without" row
    assert re.search(r"ratios: class starts None; encrypt / fwd\+bwd \d+\.\d; regenerating decrypt / fwd\+bwd "
                     r"\d+\.\d; fast decrypt \(in memory\) / D \d+\.\d\d\n", out), out
    # the sealed scheme ran on the same images: uniform noise does not compress into its room, so none is encrypted
    assert res["sealed"]["encrypted"] == 0 and res["sealed"]["errors"] == 3 and "sealed_encrypt_s" not in res
    assert "sealed scheme (" in out and "encrypted 0/3" in out
    assert re.search(r"histogram TV from the keyed noise: ciphertexts 0\.\d{3}\n", out)
    assert res["fwd_bwd_s"] > 0 and "cold_encrypt_s" not in res


def test_speed_stages_only(toy, capsys):
    out = bench(["speed", "--size", "32", "--n", "2", "--threads", "1", "--repeat", "1", "--data", toy["dir"],
                 "--model", toy["model"], "--classifier", toy["classifier"], "--stages-only", "--phi-steps", "1"],
                capsys)
    assert "## 32x32, n=2, stages only:" in out and MACHINE.search(out)
    assert "| Φ, one step (forward+backward+Adam) |" in out and "mean margin after 1 steps" in out
    assert json.loads(out.split("\nJSON ", 1)[1])["fast_unsealed_exact"] is True


def test_classify_prints_a_table_and_the_machine(toy, capsys):
    out = bench(["classify", "--classifier", toy["classifier"], "--data", "cifar10.npz", "--root", toy["dir"],
                 "--n", "5", "--batch", "2", "--repeat", "1"], capsys)
    assert MACHINE.search(out), out
    assert "| classifier | images | size | batch | ms/img | img/s |" in out
    assert re.search(r"\| \S+toy_classifier.safetensors \| 5 \| 32x32 \| 2 \| \d+\.\d\d \| \d+\.\d \|", out)
    assert "on 5 images (32, 32):" in out and "(batch 2, 1 thread(s), load" in out


def test_phi_reach_prints_its_tables(toy, capsys):
    out = bench(["phi-reach", toy["model"], "3", "--classifier", toy["classifier"], "--data",
                 os.path.join(toy["dir"], "cifar10.npz"), "--set", "max_steps=50"], capsys)
    assert "max_steps=50" in out and MACHINE.search(out)
    assert "| contrast v (v·x + (1 − v)·0.5) | test images keeping their label | median margin |" in out
    assert "| NAEs | margin reached | steps median | steps p90 | steps max | wall s |" in out
    assert re.search(r"3 NAEs in \d+\.\d s: margin reached \d/3", out)


def test_phi_reach_from_class_starts_needs_them(toy):
    with pytest.raises(ValueError, match="has no class starts"):
        run_bench(parse(["phi-reach", toy["model"], "2", "--classifier", toy["classifier"], "--data",
                         os.path.join(toy["dir"], "cifar10.npz"), "--class-starts"]))


@pytest.mark.data
def test_classify_on_shared_cifar10(shared_data, capsys):
    if not os.path.exists(os.path.join(shared_data, "cifar10.npz")):
        pytest.skip(f"{shared_data}/cifar10.npz is absent")
    out = bench(["classify", "--classifier", "cifar10", "--data", "cifar10.npz", "--root", shared_data, "--n", "8",
                 "--batch", "4", "--repeat", "1"], capsys)
    assert re.search(r"\| cifar10 \| 8 \| 32x32 \| 4 \|", out) and MACHINE.search(out)


def test_speed_ratios_line_with_and_without_class_starts():
    from ric.lab.bench.speed import ratios_line
    r = {"fwd_bwd_s": 0.01, "encrypt_s": 0.06, "decrypt_regen_s": 0.05, "decrypt_fast_s": 0.006, "d_s": 0.004,
         "class_starts": "34ca3357d95d (α 0.3)", "cold_encrypt_s": 0.14,
         "cold_phi_steps": {"median": 5, "p90": 20.0, "max": 45}, "authors_phi_s": 1.0, "phi_refill_s": 0.05,
         "hist_tv_cipher_vs_noise": 0.274, "hist_tv_cold_cipher_vs_noise": 0.13, "sealed_encrypt_s": 0.045}
    assert ratios_line(r) == (
        "ratios: class starts 34ca3357d95d (α 0.3); encrypt / fwd+bwd 6.0; regenerating decrypt / fwd+bwd 5.0; "
        "fast decrypt (in memory) / D 1.50; encrypt without starts / fwd+bwd 14.0 (Φ steps 5/20/45 median/p90/max); "
        "authors' Φ / ours 20.0; sealed encrypt / fwd+bwd 4.5\nhistogram TV from the keyed noise: ciphertexts 0.274, "
        "without starts 0.130")


def test_speed_measures_the_sealed_scheme_beside_the_paper_scheme(tmp_path, toy_pair, capsys, monkeypatch):
    """Photo-like images fit the sealed room: every one encrypted, decrypted bit-exact, its time in the ratios
    (a fixed key here; the sealed stage seeds its nonces and attack, so the run is repeatable)."""
    from image_support import smooth_images

    from ric.keys import Key
    monkeypatch.setattr(Key, "generate", staticmethod(lambda: Key(bytes(range(32)))))
    x = np.stack(smooth_images(3, 32, 32))
    np.savez(tmp_path / "cifar10.npz", x_train=x, y_train=np.zeros(3, np.int64), x_test=x,
             y_test=np.zeros(3, np.int64))
    out = bench(["speed", "--size", "32", "--n", "3", "--threads", "1", "--repeat", "1", "--data", str(tmp_path),
                 "--model", toy_pair["model"], "--classifier", toy_pair["classifier"], "--skip",
                 "sweeps,authors,chunk,threads", "--no-warmup"], capsys)
    res = json.loads(out.split("\nJSON ", 1)[1])
    sd = res["sealed"]
    assert (sd["encrypted"], sd["errors"], sd["bit_exact"]) == (3, 0, "3/3")
    assert (sd["first_try"], sd["retries"], sd["config"]["payload_samples"]) == (3, 0, 1)
    assert res["sealed_encrypt_s"] > 0 and "sealed encrypt / fwd+bwd" in out
    assert "| sealed scheme: encrypt, in memory (attack + seal + label check) |" in out


def test_speed_ratio_at_equal_success_is_printed_with_its_runs():
    from ric.lab.bench.speed import ratios_line
    r = {"fwd_bwd_s": 0.01, "encrypt_s": 0.06, "decrypt_regen_s": 0.05, "decrypt_fast_s": 0.006, "d_s": 0.004,
         "class_starts": None, "hist_tv_cipher_vs_noise": 0.2, "authors_phi_s": 1.0, "phi_refill_s": 0.05,
         "authors_equal_s": 2.2, "ours_equal_s": 0.04, "authors_equal_runs": 2.13, "ours_equal_runs": 1.0,
         "authors_equal_missed": 1, "ours_equal_missed": 0}
    assert ("authors' Φ / ours 20.0; at equal success 55.0 (Φ runs per image 2.13 / 1.00; never reached g1 in 9 "
            "runs: 1 / 0)") in ratios_line(r)


def test_until_success_retries_on_new_noise_only_the_images_that_missed(key):
    """Known answer: label 0 reaches g1 at once, label 2 at its second run, label 1 never; 4 runs at most."""
    import torch

    from ric.lab.bench.speed import until_success
    from ric.nae import NAEResult
    seen, calls = {}, []

    def phi(noise, labels):
        calls.append(labels.tolist())
        for y in labels.tolist():
            seen[y] = seen.get(y, 0) + 1
        ok = torch.tensor([y == 0 or (y == 2 and seen[y] == 2) for y in labels.tolist()])
        return NAEResult(noise, torch.zeros(len(labels)), ok, ok.float())
    assert until_success(phi, key, (3, 4, 4), torch.tensor([0, 1, 2]), runs=4) == (3 + 2 + 1 + 1, 1)
    assert calls == [[0, 1, 2], [1, 2], [1], [1]]



@pytest.mark.slow
def test_portable_decrypts_each_format_under_the_baseline_kernels_and_times_them(toy, tmp_path, capsys):
    """A tiny run on the toy pair: ric/4 and sealed/2 decrypt identically under ATEN_CPU_CAPABILITY=default."""
    ramp = np.arange(32, dtype=np.uint8) * 8                 # smooth images: they fit a sealed ciphertext losslessly
    x = np.stack([np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], np.uint8(60 * k)), -1) for k in (1, 3)])
    np.savez(tmp_path / "smooth.npz", x_train=x, y_train=np.zeros(2, np.int64), x_test=x, y_test=np.zeros(2, np.int64))
    argv = ["portable", "--data", str(tmp_path / "smooth.npz"), "--n", "2", "--model", toy["model"], "--classifier",
            toy["classifier"], "--out", str(tmp_path / "pb"), "--threads", "1"]
    assert parse(argv).capabilities == ["default"]
    out = bench(argv, capsys)
    tables = [[[c.strip() for c in ln.split("|")[1:-1]] for ln in part.splitlines() if ln.startswith("| ric/")
               or ln.startswith("| sealed/")] for part in out.split("\n\n")]
    files, recovery, timing = ({r[0]: r[1:] for r in t} for t in tables if t)
    assert files["ric/4"][3:6] == ["2", "2", "2"] and files["sealed/2"][3:6] == ["2", "2", "2"]
    assert recovery["sealed/2"] == ["bit-exact 2/2"] and recovery["ric/4"][0].startswith("PSNR median")
    assert timing["ric/4"][-1] == timing["ric/3"][-1] == timing["sealed/2"][-1] == "2/2"
    assert "| format (in memory) | encrypt ms/img | decrypt ms/img | decrypted |" in out
    assert re.search(MACHINE, out)
