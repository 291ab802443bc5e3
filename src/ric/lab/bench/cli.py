"""`ric bench NAME`: the parsers of the benchmarks and their dispatch (torch loads only when one runs).

Each benchmark prints Markdown tables with the machine it ran on (CPUs, torch version, threads, load average
before and after). Times are wall-clock: run on an otherwise idle machine, under `nice` when it is shared.
`python -m ric.lab.bench NAME ...` runs the same commands without the main CLI.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile

from ...cli.options import at_least
from .common import SPEED_SKIPPABLE

MODULES = {"speed": "speed", "schemes": "schemes", "classify": "classify", "service": "service",
           "phi-reach": "phi_reach", "sealed-attack": "sealed_attack", "photo-sizes": "photo_sizes",
           "portable": "portable", "noise-like": "noise_like", "cloud": "cloud"}
DESCRIPTION = ("The measurements behind docs/results.md. Each benchmark prints Markdown tables with the machine it ran "
               "on (CPUs, torch version, threads, load average before and after). Times are wall-clock: run on an "
               "otherwise idle machine, under `nice` when it is shared.")


def skip_list(text: str) -> list[str]:
    """argparse type: comma list of the optional parts of `ric bench speed`."""
    parts = [p for p in text.split(",") if p]
    bad = [p for p in parts if p not in SPEED_SKIPPABLE]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(bad)}; the parts are "
                                         f"{','.join(SPEED_SKIPPABLE)}")
    return parts


def workers_list(text: str) -> list[int]:
    """argparse type: comma list of thread counts (0: the decryption's default)."""
    try:
        ws = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if any(w < 0 for w in ws):
        raise argparse.ArgumentTypeError(f"thread counts are at least 0, got {text!r}")
    return ws


def json_object(text: str) -> dict:
    """argparse type: a JSON object."""
    try:
        v = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e.msg}): {text!r}") from None
    if not isinstance(v, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"lr\": 0.05}}', got {text!r}")
    return v


def key_value(text: str) -> tuple[str, str]:
    """argparse type: FIELD=VALUE."""
    k, sep, v = text.partition("=")
    if not sep or not k:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    return k, v


POSITIVE, NONNEG = at_least(1), at_least(0)


def _speed(bsub) -> None:
    p = bsub.add_parser("speed", help="both schemes' speed: throughput, stages, Φ steps, peak memory, the authors' "
                        "Φ, fast decryption, classification overhead")
    p.add_argument("--size", type=int, choices=(32, 64, 160), required=True,
                   help="32: shipped cifar10 pair; 64: shipped celeba64 pair; 160: shipped celeba160 pair")
    p.add_argument("--n", type=POSITIVE, default=None, help="images (default 128 at 32x32, 32 at 64x64, 8 at 160x160)")
    p.add_argument("--threads", type=POSITIVE, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--repeat", type=POSITIVE, default=3, help="timed runs, the best kept (default 3)")
    p.add_argument("--data", default="../shared/data", help="folder with the datasets (default ../shared/data)")
    p.add_argument("--stages-only", action="store_true", help="each stage alone, Φ for --phi-steps steps")
    p.add_argument("--phi-steps", type=POSITIVE, default=3, help="Φ steps with --stages-only (default 3)")
    p.add_argument("--model", default=None, help="RIC model (name or path) instead of the default for --size")
    p.add_argument("--classifier", default=None, help="classifier (name or path), with --model")
    p.add_argument("--phi", type=json_object, default=None,
                   help="JSON overriding Φ settings (lr, margin, max_steps, chunk)")
    p.add_argument("--max-retries", type=NONNEG, default=8, help="new nonces per image after a Φ or label miss")
    p.add_argument("--no-warmup", action="store_true", help="no untimed warm-up encryption (slow sizes)")
    p.add_argument("--skip", type=skip_list, default=[],
                   help=f"comma list of optional parts to skip: {','.join(SPEED_SKIPPABLE)}")


def _schemes(bsub) -> None:
    p = bsub.add_parser("schemes", help="paper vs sealed scheme, encrypt and decrypt, in memory and through files")
    p.add_argument("--data", default="../shared/data/cifar10.npz", help="CIFAR-10 .npz (default "
                   "../shared/data/cifar10.npz)")
    p.add_argument("--n", type=POSITIVE, default=200, help="seeded test images (default 200)")
    p.add_argument("--threads", type=POSITIVE, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--files-only", action="store_true", help="skip the in-memory rows")
    p.add_argument("--repeat", type=POSITIVE, default=1, help="time each decryption R times, keep the fastest")
    p.add_argument("--workers", type=workers_list, default=[0], help="sealed file decryption threads, "
                   "comma-separated to compare (0: its default)")


def _classify(bsub) -> None:
    p = bsub.add_parser("classify", help="classification throughput of a classifier on test images")
    p.add_argument("--classifier", required=True, help="classifier name or .safetensors path")
    p.add_argument("--data", required=True, help="an .npz in --root with x_test")
    p.add_argument("--root", default="../shared/data", help="folder of --data (default ../shared/data)")
    p.add_argument("--n", type=POSITIVE, default=100, help="test images (default 100)")
    p.add_argument("--batch", type=POSITIVE, default=25, help="batch size (default 25)")
    p.add_argument("--repeat", type=POSITIVE, default=3, help="timed passes, the best kept (default 3)")
    p.add_argument("--threads", type=POSITIVE, default=1, help="torch CPU threads (default 1)")


def _service(bsub) -> None:
    p = bsub.add_parser("service", help="load benchmark of `ric serve` on loopback, with an audit of the store; "
                        "--kill-at for crash consistency, --worst-request for peak memory")
    p.add_argument("--n", type=POSITIVE, default=2000, help="uploads (files; default 2000)")
    p.add_argument("--files-per-request", type=POSITIVE, default=1, help="files in each request (default 1)")
    p.add_argument("--concurrency", type=POSITIVE, default=16, help="requests in flight at most (default 16)")
    p.add_argument("--classifier", default="cifar10")
    p.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temp folder)")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "ric-bench-pool"),
                   help="folder for the pool of ciphertexts (kept between runs)")
    p.add_argument("--pool", metavar="DIR", help="use the ciphertexts in DIR (made for --classifier) as the pool")
    p.add_argument("--kill-at", type=POSITIVE, default=None, metavar="K",
                   help="SIGKILL the server after K acknowledged requests, restart it, go on, then audit")
    p.add_argument("--worst-request", action="store_true",
                   help="send one request of --max-files images of --max-side squared; report peak memory")
    p.add_argument("--max-files", type=POSITIVE, default=64, help="for --worst-request (the server's default: 64)")
    p.add_argument("--max-side", type=POSITIVE, default=1024, help="for --worst-request (the server's default: 1024)")
    p.add_argument("--max-images", type=NONNEG, default=None, metavar="N",
                   help="give the bench token an upload quota of N images (ric token create --max-images)")
    p.add_argument("--server-args", default="", help="extra `ric serve` options, e.g. \"--max-batch-pixels N\"")
    p.add_argument("--max-seconds", type=float, default=900, help="stop sending after this long (default 900)")
    p.add_argument("--json", metavar="FILE", help="also write the results here")


def _phi_reach(bsub) -> None:
    p = bsub.add_parser("phi-reach", help="can Φ reach every target label from keyed noise, how fast, and does the "
                        "classifier keep labels at reduced contrast")
    p.add_argument("model", help="RIC model (shipped name or path) whose encryption Φ settings are used")
    p.add_argument("n", type=POSITIVE, help="noise images; targets cycle through the classes")
    p.add_argument("--classifier", help="classifier name or .safetensors path (default: MODEL's)")
    p.add_argument("--view", type=float, default=0.8, help="the contrast Φ aims at (default 0.8)")
    p.add_argument("--target", type=NONNEG, help="one target label for every noise image")
    p.add_argument("--class-starts", action="store_true", help="begin Φ from the classifier's class starts, as "
                   "encryption does (ric prepare-classifier), instead of from the keyed noise alone")
    p.add_argument("--data", help="an .npz: also how many test images keep their label at contrast 1/0.9/0.8")
    p.add_argument("--set", type=key_value, action="append", default=[], metavar="FIELD=VALUE",
                   help="override a PhiConfig field, e.g. --set lr=0.05 --set max_steps=2000")
    p.add_argument("--threads", type=POSITIVE, default=1, help="torch CPU threads (default 1)")


def _sealed_attack(bsub) -> None:
    p = bsub.add_parser("sealed-attack", help="the sealed scheme's coarse 5-level attack on real images per "
                        "SealedConfig: success, steps, time")
    p.add_argument("--data", required=True, help="dataset .npz (e.g. ../shared/data/celeba_faces_64.npz)")
    p.add_argument("--classifier", default="cifar10", help="classifier name or path (default cifar10)")
    p.add_argument("--n", type=POSITIVE, default=8, help="seeded images (default 8)")
    p.add_argument("--seed", type=int, default=0, help="which images and the attack's generator (default 0)")
    p.add_argument("--split", default="train", choices=("train", "test"),
                   help="tune on train images; measure on test (default train)")
    p.add_argument("--threads", type=POSITIVE, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--cfg", action="append", default=[], metavar="K=V,K=V",
                   help="one SealedConfig per --cfg, e.g. lr=0.1,margin=5,payload_samples=1,max_steps=300")


def size_list(text: str) -> list[tuple[int, int]]:
    """argparse type: comma list of WxH sizes (width first, as photos are named), e.g. 640x427,4032x3024."""
    out = []
    for part in (p for p in text.split(",") if p):
        w, sep, h = part.lower().partition("x")
        if not (sep and w.isdigit() and h.isdigit()) or not (8 <= int(w) <= 4096 and 8 <= int(h) <= 4096):
            raise argparse.ArgumentTypeError(f"expected WxH sizes with sides 8..4096 separated by commas, got "
                                             f"{part!r}")
        out.append((int(h), int(w)))
    if not out:
        raise argparse.ArgumentTypeError("no sizes given")
    return out


def scheme_list(text: str) -> list[str]:
    """Comma-separated registered scheme names (ric.schemes.registry)."""
    from ...schemes.registry import scheme_names
    known = scheme_names()
    parts = [p for p in text.split(",") if p]
    if not parts or any(p not in known for p in parts):
        raise argparse.ArgumentTypeError(f"expected scheme names separated by commas ({', '.join(known)}), got "
                                         f"{text!r}")
    return parts


def _photo_sizes(bsub) -> None:
    p = bsub.add_parser("photo-sizes", help="wall time and peak memory of ric encrypt / decrypt against "
                        "megapixels, both schemes, one synthetic photo per size, with a figure")
    p.add_argument("--sizes", type=size_list, default=size_list("32x32,640x427,2000x1334,4032x3024"),
                   help="WxH sizes (default 32x32,640x427,2000x1334,4032x3024)")
    p.add_argument("--schemes", type=scheme_list, default=["paper", "sealed"], help="paper,sealed (default both)")
    p.add_argument("--out", required=True, help="folder for the photos, ciphertexts, recoveries, JSON and figure")
    p.add_argument("--model", default=None, help="RIC model (name or path; default the CLI's)")
    p.add_argument("--classifier", default=None, help="classifier (name or path; default the CLI's)")
    p.add_argument("--threads", type=POSITIVE, default=1, help="torch CPU threads of each run (default 1)")
    p.add_argument("--cpu", action="store_true", help="pass --cpu to each run")
    p.add_argument("--no-plot", action="store_true", help="no figure (without the plots extra)")
    p.add_argument("--fwd-bwd", type=POSITIVE, default=0, metavar="SIDE",
                   help="also time the classifier's forward+backward on one SIDE×SIDE image, and print each "
                   "encryption as a multiple of it")


def capability_list(text: str) -> list[str]:
    """argparse type: comma list of ATen CPU capabilities (default, avx2, avx512)."""
    caps = [c.strip().lower() for c in text.split(",") if c.strip()]
    bad = [c for c in caps if c not in ("default", "avx2", "avx512")]
    if bad or not caps:
        raise argparse.ArgumentTypeError(f"ATen CPU capabilities are default, avx2, avx512; got {text!r}")
    return caps


def _portable(bsub) -> None:
    p = bsub.add_parser("portable", help="do ciphertexts of each format decrypt to the same pixels under other ATen "
                        "CPU kernels; file sizes of ric/4, sealed/2 and ric/3")
    p.add_argument("--data", default="../shared/data/cifar10.npz", help="an .npz with x_test (default "
                   "../shared/data/cifar10.npz)")
    p.add_argument("--n", type=POSITIVE, default=200, help="test images, evenly spaced over the test set (default 200)")
    p.add_argument("--model", default="cifar10", help="RIC model (default cifar10)")
    p.add_argument("--classifier", default=None, help="classifier (default: the --model name)")
    p.add_argument("--capabilities", type=capability_list, default=["default"],
                   help="ATEN_CPU_CAPABILITY values to decrypt under besides the machine's own (default: default)")
    p.add_argument("--out", default="portable-bench", help="working folder (kept; reruns reuse its ciphertexts)")
    p.add_argument("--threads", type=POSITIVE, default=2, help="torch CPU threads of the timing (default 2)")


def config_list(text: str) -> list[str]:
    """argparse type: comma list of SIZE:CLASSIFIER."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    for p in parts:
        size, _, clf = p.partition(":")
        if not (size.isdigit() and int(size) >= 32 and clf):
            raise argparse.ArgumentTypeError(f"expected SIZE:CLASSIFIER with SIZE >= 32, e.g. 512:cifar10; got {p!r}")
    return parts


def _noise_like(bsub) -> None:
    p = bsub.add_parser("noise-like", help="same-label ciphertexts' block-mean correlation and low-frequency power "
                        "at each image size, both schemes")
    p.add_argument("--configs", type=config_list, default=["32:cifar10", "512:cifar10"],
                   help="SIZE:CLASSIFIER list (default 32:cifar10,512:cifar10)")
    p.add_argument("--data", default="../shared/data/cifar10.npz", help="test images for classifiers other than "
                   "celeba64/celeba160, which read their own ../shared/data set (default ../shared/data/cifar10.npz)")
    p.add_argument("--n", type=POSITIVE, default=6, help="test images per configuration, each under 2 keys "
                   "(default 6)")
    p.add_argument("--schemes", type=scheme_list, default=["sealed", "paper"], help="schemes (default sealed,paper)")
    p.add_argument("--model", default="cifar10", help="the paper scheme's RIC model for a classifier without one of "
                   "its name (default cifar10, tiled)")
    p.add_argument("--out", default="", help="folder for the pictures of two same-label ciphertexts (default none)")
    p.add_argument("--threads", type=POSITIVE, default=2, help="torch CPU threads (default 2)")


def _cloud(bsub) -> None:
    p = bsub.add_parser("cloud", help="a stock ImageNet classifier behind a cloud's own resize and crop (PIL, torch): "
                        "do ciphertexts get their plaintext's label")
    p.add_argument("--data", default="", help="an .npz with x_test (e.g. ../shared/data/cifar10.npz)")
    p.add_argument("--n", type=POSITIVE, default=200, help="test images of --data, evenly spaced (default 200)")
    p.add_argument("--size", type=POSITIVE, default=256, help="--data images resized to this shorter side (default "
                   "256)")
    p.add_argument("--photos", default="", help="a folder of photos to add (e.g. src/ric/samples/photos)")
    p.add_argument("--classifier", default="efficientnet-lite0", help="a classifier behind a pipeline (default "
                   "efficientnet-lite0)")
    p.add_argument("--model", default="cifar10", help="the paper scheme's RIC model (default cifar10, tiled)")
    p.add_argument("--schemes", type=scheme_list, default=["sealed", "paper"], help="schemes (default sealed,paper)")
    p.add_argument("--out", default="cloud-bench", help="working folder (kept; a rerun goes on where one stopped)")
    p.add_argument("--report-only", action="store_true", help="encrypt nothing more: report on the ciphertexts "
                   "already in --out")
    p.add_argument("--threads", type=POSITIVE, default=2, help="torch CPU threads (default 2)")


def add_parsers(sub) -> None:
    bp = sub.add_parser("bench", help="benchmarks behind docs/results.md: speed, schemes, classify, service, "
                        "phi-reach, sealed-attack, photo-sizes, portable, noise-like, cloud", description=DESCRIPTION)
    bsub = bp.add_subparsers(dest="bench", required=True, metavar="NAME")
    for add in (_speed, _schemes, _classify, _service, _phi_reach, _sealed_attack, _photo_sizes, _portable,
                _noise_like, _cloud):
        add(bsub)


def run_bench(args) -> int:
    """Run the benchmark `args.bench`; its exit status. RICError / FileNotFoundError for bad inputs."""
    if args.bench == "service":
        from ...errors import require_extra
        require_extra("ric bench service", None, "httpx", "fastapi", "uvicorn")
    module = importlib.import_module(f"{__package__}.{MODULES[args.bench]}")
    return module.run(args)


def main(argv=None) -> int:
    """`python -m ric.lab.bench NAME ...`."""
    ap = argparse.ArgumentParser(prog="ric", description=DESCRIPTION)
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_parsers(sub)
    args = ap.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_bench(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"ric bench {args.bench}: error: {e}", file=sys.stderr)
        return 2
