"""`ric attack ...`: the security evaluation as commands. Each attack has small CPU-friendly default budgets
(--n, --epochs, ...), shows tqdm progress, prints a table (or --json) and writes DIR/<attack>.json and
DIR/<attack>.png (never overwriting either without --force). Imports stay light: torch loads only when run.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time

from ...cli.options import NONNEG, POSITIVE, check_device
from ...formats import PAPER_MIXES, SCHEMES

ATTACKS = ("brute-force", "known-plaintext", "inversion", "cloud", "nonce-reuse", "linkage")


def _common(p, n: int | None, n_help: str, epochs: int | None = None):
    if n is not None:
        p.add_argument("--n", type=int, default=n, help=f"{n_help} (default {n})")
    if epochs is not None:
        p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--data", default=None, metavar="NPZ", help="dataset .npz (default ../shared/data/cifar10.npz)")
    p.add_argument("--model", default="cifar10", help="shipped RIC model name or .safetensors path (default cifar10)")
    p.add_argument("--classifier", default=None, help="classifier name or path (default: same name as --model)")
    p.add_argument("--seed", type=int, default=0, help="which images (seeded subsets) and network init")
    p.add_argument("--out", default="ric-attack", metavar="DIR", help="folder for <attack>.json and <attack>.png "
                   "(default ric-attack)")
    p.add_argument("--force", action="store_true", help="overwrite existing result files")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--threads", type=NONNEG, default=0, help="CPU threads for torch (default 0: torch's choice)")
    p.add_argument("--batch-size", type=POSITIVE, default=64)
    p.add_argument("--mix", choices=PAPER_MIXES, default="mask",
                   help="the victim's paper-scheme ciphertexts (format ric/4, what `ric encrypt --scheme paper` "
                        "writes): keyed uniform mask of u_en (default), keyed scramble, or none (the paper's exact "
                        "scheme)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def add_parsers(sub) -> None:
    ap = sub.add_parser("attack", help="security evaluation: brute-force, known-plaintext, inversion and cloud "
                        "attacks, nonce reuse")
    asub = ap.add_subparsers(dest="attack", required=True, metavar="ATTACK")
    p = asub.add_parser("brute-force", help="N ciphertexts x M random wrong keys: container rejections, and what a "
                        "decryption that bypasses the key check recovers (paper Fig. 8)")
    _common(p, 20, "number of test images (paper: 100)")
    p.add_argument("--keys", type=int, default=20, help="random wrong keys (default 20; paper: 200)")
    p = asub.add_parser("known-plaintext", help="paper §6.3: U-Net trained on N (ciphertext, recovered plaintext) "
                        "pairs of one key, tested on other ciphertexts of that key")
    _common(p, 500, "training pairs (paper: 500)", epochs=20)
    p.add_argument("--n-test", type=int, default=100, help="test ciphertexts (default 100)")
    p.add_argument("--width", type=int, default=32, help="U-Net base width (default 32)")
    p = asub.add_parser("inversion", help="public-model attacker: trains a U-Net on pairs made with its own keys, "
                        "tested on a key it never saw")
    _common(p, 1000, "training pairs made by the attacker (from the train split)", epochs=10)
    p.add_argument("--keys", type=int, default=10, help="attacker keys the training pairs are spread over (default 10)")
    p.add_argument("--scheme", choices=SCHEMES, default="paper",
                   help="which ciphertexts to attack (default paper); sealed needs no RIC model, and images that "
                   "do not fit losslessly are left out")
    p.add_argument("--n-test", type=int, default=100, help="victim test ciphertexts (default 100)")
    p.add_argument("--width", type=int, default=32, help="U-Net base width (default 32)")
    p = asub.add_parser("cloud", help="paper App. B: encoder+generator trained with the classifier's CE, a "
                        "discriminator (trained here on real images) and the latent-diversity term")
    _common(p, 1000, "historical ciphertexts the cloud holds", epochs=10)
    p.add_argument("--n-real", type=int, default=1000, help="real images for the discriminator (default 1000)")
    p.add_argument("--n-test", type=int, default=100, help="test ciphertexts (default 100)")
    p.add_argument("--eta1", type=float, default=1.0, help="realism weight η1 (default 1)")
    p.add_argument("--eta2", type=float, default=0.1, help="latent-diversity weight η2 (default 0.1)")
    p = asub.add_parser("nonce-reuse", help="what x'_1 - x'_2 leaks when key and nonce are shared, and a check "
                        "that the library never reuses a nonce")
    _common(p, 64, "test images to draw same-label pairs from")
    p.add_argument("--pairs", type=int, default=16, help="image pairs (default 16)")
    p = asub.add_parser("linkage", help="distinguishing game: given two same-label plaintexts and the ciphertext "
                        "of one (under a key it never saw), can an attacker that fits on its own ciphertexts say "
                        "which? Ridge and DeepSets attackers on permutation- and sign-invariant statistics; "
                        "--data also takes cifar10, celeba64, celeba160 (with the shipped pair of that name)")
    _common(p, None, "", epochs=60)
    p.set_defaults(model=None)   # --data NAME picks the shipped pair of that name (cifar10, celeba64, celeba160)
    p.add_argument("--attacker-images", type=int, default=600, help="images (TRAIN split) the attacker encrypts "
                   "under its own keys and fits on (default 600)")
    p.add_argument("--trials", type=int, default=2000, help="same-label TEST pairs, one victim ciphertext each "
                   "(default 2000)")
    p.add_argument("--keys", type=int, default=10, help="attacker keys its images are spread over (default 10)")
    p.add_argument("--null", action="store_true", help="control run: each victim ciphertext is of a third image "
                   "of the same label, so every attacker must be at chance (checks the instrument, not the scheme)")
    p.add_argument("--both-coins", action="store_true", help="play every pair twice, with the ciphertext of each "
                   "of its images (2 x --trials trials): a choice set by the candidates alone scores exactly 50%%")
    p.add_argument("--scheme", choices=SCHEMES, default="paper",
                   help="which ciphertexts to attack (default paper); sealed: images that do not fit losslessly "
                   "are left out of both sides")
    p.add_argument("--no-class-starts", action="store_true", help="Φ from the keyed noise alone, even where the "
                   "classifier has class starts (which `ric encrypt` uses)")
    p.add_argument("--attacker-data", default=None, metavar="NPZ", help="the attacker's own images from this data "
                   "set instead (both splits, resized to the victim's size, without the classes --data also names)")
    p.add_argument("--victim-split", choices=("test", "all"), default="test", help="draw the victim's pairs from "
                   "the test split (default) or from train and test (the attacker then needs --attacker-data)")


def _device(args) -> str:
    import torch
    if args.cpu:
        return "cpu"
    if args.device:
        return check_device(args.device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def _command_line(args) -> str:
    skip = {"cmd", "attack", "func"}
    parts = ["ric", "attack", args.attack]
    for k, v in sorted(vars(args).items()):
        if k in skip or v is None or v is False or callable(v):   # the parser's `run` default is no option
            continue
        flag = "--" + k.replace("_", "-")
        parts += [flag] if v is True else [flag, str(v)]
    return " ".join(parts)


def _clean(obj):
    """JSON-safe copy (drops nothing but converts numpy scalars)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):
        return obj.item()
    return obj


def _print_table(res: dict) -> None:
    from .common import QUALITY_HEADER, format_table, quality_rows
    flat = {k: v for k, v in res.items() if not isinstance(v, dict)}
    for k, v in res.items():
        if isinstance(v, dict) and k != "results_vs_plaintext":
            if all(not isinstance(x, dict) for x in v.values()):
                if set(v) == {"mean", "min", "max"}:
                    flat[k] = f"mean {v['mean']:.4f}  min {v['min']:.4f}  max {v['max']:.4f}"
                else:
                    flat[k] = ", ".join(f"{a}={b:.4f}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items())
    w = max(len(k) for k in flat)
    for k, v in flat.items():
        print(f"{k:<{w}}  {v:.4f}" if isinstance(v, float) else f"{k:<{w}}  {v}")
    if res.get("attack") == "linkage":
        from .linkage import table
        print()
        print(table(res["results"]))
    if "results_vs_plaintext" in res:
        print()
        print(format_table(quality_rows(res["results_vs_plaintext"]), QUALITY_HEADER))


def run_attack(args) -> int:
    from ...errors import RICError
    name = args.attack
    for opt in ("n", "keys", "n_test", "n_real", "pairs", "epochs", "width", "attacker_images", "trials"):
        v = getattr(args, opt, None)
        if v is not None and v < 1:
            raise RICError(f"--{opt.replace('_', '-')} must be at least 1")
    paths = _result_paths(args)
    if name == "linkage":
        from .linkage import resolve_names
        args.data, args.model, args.classifier = resolve_names(args.data, args.model, args.classifier)

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from ... import hub
    from .common import default_data, load_split
    device = _device(args)
    data = args.data or default_data()
    from ...schemes.registry import scheme_spec
    needs_model = scheme_spec(getattr(args, "scheme", "paper")).needs_model    # only inversion, linkage choose
    model = hub.load_ric_model(args.model, device) if needs_model else None
    clf = hub.load_classifier(args.classifier or (args.model if args.model in hub.shipped_names("classifier")
                                                    else hub.DEFAULT), device)
    from ...schemes.paper.mixing import CLI_NAMES
    t0 = time.perf_counter()
    run = {"brute-force": _brute_force, "known-plaintext": _known_plaintext, "inversion": _inversion,
           "cloud": _cloud, "linkage": _linkage, "nonce-reuse": _nonce_reuse}[name]
    res = run(args, model, clf, data, load_split(data, "test"), device, CLI_NAMES[args.mix], paths["png"])
    wall = time.perf_counter() - t0
    res = {**res, "mix": CLI_NAMES[args.mix] if model else None, "command": _command_line(args),
           "data": os.path.abspath(data), "model": model.identity if model else None,
           "classifier": clf.identity, "wall_s": wall, "device": device,
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads", "figure": paths["png"]}
    res = _clean(res)
    with open(paths["json"], "w") as f:
        json.dump(res, f, indent=1)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        _print_table(res)
    if not args.quiet:
        print(f"ric: wrote {paths['json']} and {paths['png']}", file=sys.stderr)
    return 0


def _result_paths(args) -> dict:
    """DIR/<attack>.json and .png, refusing to overwrite either without --force."""
    from ...errors import OutputExistsError
    os.makedirs(args.out, exist_ok=True)
    paths = {ext: os.path.join(args.out, f"{args.attack}.{ext}") for ext in ("json", "png")}
    for p in paths.values():
        if os.path.exists(p) and not args.force:
            raise OutputExistsError(f"{p} already exists; refusing to overwrite (use --force or another --out)")
    return paths


# One function per attack: (args, RIC model or None, classifier, data path, test split, device, mix, figure path)
# -> the attack's result dict; each draws its figure.

def _brute_force(args, model, clf, data, test, device, mix, png) -> dict:
    from .bruteforce import brute_force, figure
    from .common import pick
    x = test.tensors(pick(len(test), args.n, args.seed))[0]
    res, arr = brute_force(model, clf, x, args.keys, device, args.batch_size, not args.quiet, mix=mix,
                           seed=args.seed)
    figure(png, arr)
    return res


def _known_plaintext(args, model, clf, data, test, device, mix, png) -> dict:
    import torch

    from .common import pick, strip_figure
    from .learned import known_plaintext
    x = test.tensors(pick(len(test), args.n + args.n_test, args.seed))[0]
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))]
    res, arr = known_plaintext(model, clf, x, args.n, args.epochs, args.width, device, args.batch_size,
                               show=not args.quiet, seed=args.seed, mix=mix)
    strip_figure(png, arr, title="known-plaintext attack (one key): test ciphertexts")
    return res


def _inversion(args, model, clf, data, test, device, mix, png) -> dict:
    from .common import load_split, pick, strip_figure
    from .learned import inversion
    train = load_split(data, "train")
    xt = train.tensors(pick(len(train), args.n, args.seed))[0]
    xv = test.tensors(pick(len(test), args.n_test, args.seed))[0]
    res, arr = inversion(model, clf, xt, xv, args.keys, args.epochs, args.width, device, args.batch_size,
                         show=not args.quiet, seed=args.seed, scheme=args.scheme, mix=mix)
    strip_figure(png, arr, title=f"inversion attack ({args.scheme} scheme): ciphertexts under a key the "
                 "attacker never saw")
    return res


def _cloud(args, model, clf, data, test, device, mix, png) -> dict:
    from .cloud import cloud
    from .common import load_split, pick, strip_figure
    train = load_split(data, "train")
    ic = pick(len(train), args.n, args.seed)
    ir = pick(len(train), args.n_real, args.seed + 1, exclude=ic)
    res, arr = cloud(model, clf, train.tensors(ic)[0], train.tensors(ir)[0],
                     test.tensors(pick(len(test), args.n_test, args.seed))[0], args.epochs, args.eta1,
                     args.eta2, device=device, batch=args.batch_size, show=not args.quiet, seed=args.seed, mix=mix)
    strip_figure(png, arr, title="cloud attack (App. B), discriminator trained on real images here")
    return res


def _linkage(args, model, clf, data, test, device, mix, png) -> dict:
    from ...errors import RICError
    from .common import load_split
    from .linkage import LinkageConfig, figure, linkage
    from .linkage.sources import attacker_images, victim_pool
    cfg = LinkageConfig(scheme=args.scheme, mix=mix, n_attacker=args.attacker_images, n_trials=args.trials,
                        n_keys=args.keys, epochs=args.epochs, seed=args.seed, device=device, batch=args.batch_size,
                        show=not args.quiet, null=args.null, both_coins=args.both_coins,
                        class_starts=not args.no_class_starts)
    if args.victim_split == "all" and not args.attacker_data:
        raise RICError("--victim-split all needs --attacker-data: the attacker's own images must not be the victim's")
    test = victim_pool(data, args.victim_split)
    train = load_split(data, "train")
    if args.attacker_data:
        train = attacker_images(args.attacker_data, test.x.shape[1:3], set(test.classes))
    res, arr = linkage(model, clf, train, test, cfg)
    res.update(victim_split=args.victim_split, attacker_data=os.path.abspath(args.attacker_data)
               if args.attacker_data else "the TRAIN split of --data")
    figure(png, arr, f"linkage game ({args.scheme} scheme{', mix ' + args.mix if model else ''}): "
           f"{res['trials']} trials, {res['attacker_images']} attacker images")
    return res


def _nonce_reuse(args, model, clf, data, test, device, mix, png) -> dict:
    from .common import pick, strip_figure
    from .nonce import nonce_reuse
    x = test.tensors(pick(len(test), args.n, args.seed))[0]
    res, arr = nonce_reuse(model, clf, x, args.pairs, device, not args.quiet, mix=mix, seed=args.seed)
    strip_figure(png, arr, title="shared key+nonce: x'1 - x'2 cancels the NAE")
    return res
