"""Option groups shared by the commands, and resolving them (device, threads, models) — written once."""
from __future__ import annotations

import argparse
import math
import sys

from ..formats import PAPER_MIXES

EPILOG_IMAGES = ("Input images: any 8-bit image Pillow reads is CONVERTED to RGB for the classifier (greyscale, "
                 "palette, CMYK; the paper scheme drops an alpha channel with a warning; the sealed scheme gives "
                 "L, LA, P, RGB and RGBA files back in their own mode); 16-bit and floating-point images are "
                 "REFUSED, and so are files of several frames (animated PNG, GIF or WebP, multi-page TIFF: extract "
                 "the frames first); sides must be 8..4096 pixels, --resize's too. Images are encrypted at their "
                 "own size (the networks are fully convolutional) unless --resize gives a size; the shipped "
                 "cifar10 classifier was trained on 32x32 images and labels other sizes less accurately.")

EPILOG_STREAM = ("Folders are streamed (constant memory, one progress bar); sub-folders are not entered (each one "
                 "is named in a warning). With a folder, --resume or torchrun, results are printed as they finish "
                 "and --json prints one JSON object per line. --resume skips outputs that are already complete and "
                 "never overwrites anything else. Under torchrun (e.g. `torchrun --standalone --nproc-per-node 4 -m "
                 "ric.cli {cmd} ...`) each process takes its own disjoint share of the files.")

MIX_CHOICES = PAPER_MIXES                           # the mixings ric/4 holds (ric.formats)
DEFAULT_MODEL = "cifar10"                           # ric.hub.DEFAULT (not imported: `ric --help` stays light)


# -- argparse types: a bad value is a usage error (exit 2) before anything runs ---------------------------
def at_least(lo: int):
    """argparse type: a whole number >= lo."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        return v
    parse.__name__ = f"whole number >= {lo}"
    return parse


POSITIVE, NONNEG = at_least(1), at_least(0)


def finite_nonneg(text: str) -> float:
    """argparse type: a finite number >= 0 (nan, inf and negatives are refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


finite_nonneg.__name__ = "number >= 0"


def size_hw(text: str) -> tuple[int, int]:
    """argparse type: HxW with both sides in the input policy's range (ric.io.images MIN_SIDE..MAX_SIDE)."""
    from ..io.images import MAX_SIDE, MIN_SIDE
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 32x32, got {text!r}") from None
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"sides must be {MIN_SIDE} to {MAX_SIDE} pixels, got {text!r}")
    return h, w


size_hw.__name__ = "HxW size"


def device_options(p) -> None:
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda:1 (default: cuda if available)")
    p.add_argument("--threads", type=NONNEG, default=0, help="CPU threads for torch (default 0: torch's choice)")


def model_options(p, ric_model: bool = True, decrypt: bool = False) -> None:
    named = "; decrypt: the one named in each ciphertext" if decrypt else ""
    if ric_model:
        p.add_argument("--model", default=None, help=f"shipped RIC model name or .safetensors path (default: "
                       f"{DEFAULT_MODEL}{named})")
    p.add_argument("--classifier", default=None, help="shipped classifier name, .safetensors or TorchScript path "
                   f"(default: {DEFAULT_MODEL}{' or the --model name' if ric_model and not decrypt else ''}{named})")


def run_options(p) -> None:
    """Device, threads, batch size and progress: every command that runs networks."""
    device_options(p)
    p.add_argument("--batch-size", type=POSITIVE, default=64, metavar="N",
                   help="images per network call (default 64; lower it when memory is short)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars and no summary line")


def stream_options(p) -> None:
    p.add_argument("--resume", action="store_true", help="skip inputs whose output already exists and is complete "
                   "(a ciphertext of this scheme under this key / a readable image); anything else there is an "
                   "error, never overwritten")
    window_option(p, "images held in memory at once when streaming (default 256)")


def engine_options(p) -> None:
    g = p.add_argument_group("distributed runs (the ray extra)")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (or its torchrun rank); ray: a Ray cluster's actor pool through Ray "
                        "Data (the key is sent to the workers: run it on a cluster you trust with the key; local "
                        "paths are shown absolute)")
    g.add_argument("--ray-address", metavar="ADDRESS", default=None,
                   help="the Ray cluster to join (default: $RAY_ADDRESS, else a new local cluster of this machine)")
    g.add_argument("--workers", type=POSITIVE, default=2, metavar="N", help="--engine ray: actors (default 2)")
    g.add_argument("--worker-cpus", type=float, default=0.5, metavar="F",
                   help="--engine ray: CPUs each actor reserves (default 0.5; whole CPUs on a small machine leave "
                        "none for Ray Data's reading tasks)")


def window_option(p, help: str) -> None:
    p.add_argument("--window", type=POSITIVE, default=256, metavar="N", help=help)


def stripped_option(p) -> None:
    p.add_argument("--allow-stripped", action="store_true",
                   help="decrypt sealed ciphertexts whose RIC metadata chunk was stripped (by an image host, say): "
                        "their pixels hold everything decryption needs (refused by default, exit 5)")


def key_option(p) -> None:
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the secret key file (from `ric keygen`)")


def out_options(p) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="output folder; outputs are DIR/<name>.png")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")


def mix_option(p) -> None:
    p.add_argument("--mix", choices=MIX_CHOICES, default=None,
                   help="paper scheme: mask (default) adds a keyed uniform mask to the encoder's output so the "
                        "ciphertext reveals nothing but its label; scramble only permutes and sign-flips it, which "
                        "leaks per-image statistics such as contrast; none is the paper's exact scheme, which leaks "
                        "the image (docs/results.md, Security). All three are written as format ric/4")


def margin_option(p) -> None:
    p.add_argument("--margin", type=finite_nonneg, default=None, metavar="G1",
                   help="the attack's logit margin g1 (default: the RIC model's trained margin; for sealed, the "
                        "classifier's own sealed settings if it has them, else 5). A weak classifier with small "
                        "logit gaps may need less (the shipped celeba64 pair carries 1)")


def progress_bars(args) -> bool:
    """Progress bars on a terminal only: in a log file their carriage-return updates are noise."""
    return not args.quiet and sys.stderr.isatty()


def progress_lines(args) -> bool:
    """Where stderr is not a terminal (a log), a long job prints a progress line now and then instead of a bar."""
    return not args.quiet and not sys.stderr.isatty()


def device_of(args) -> str:
    """The torch device the options name (--cpu, --device, else cuda when available); sets --threads."""
    import torch
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    if getattr(args, "cpu", False):
        return "cpu"
    if getattr(args, "device", None):
        return check_device(args.device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(name: str) -> str:
    """`name` when torch can run on that device here; RICError (exit 2, one line) for a string torch does not
    know, or a CUDA device this torch build or machine does not have."""
    import torch

    from ..errors import RICError
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise RICError(f"--device {name!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise RICError(f"--device {name}: CUDA is not available in this torch build (torch "
                           f"{torch.__version__}); use --cpu, or install a CUDA build of torch")
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise RICError(f"--device {name}: no CUDA GPU is visible to torch here; use --cpu")
        if dev.index is not None and dev.index >= n:
            raise RICError(f"--device {name}: there is no such GPU (this machine has {n}: cuda:0..cuda:{n - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise RICError(f"--device {name}: MPS is not available here; use --cpu")
    return name


def load_classifier(args, device):
    from ..hub import load_classifier as load
    return load(args.classifier or getattr(args, "model", None) or DEFAULT_MODEL, device)


def load_ric_model(args, device):
    from ..hub import load_ric_model as load
    return load(args.model or DEFAULT_MODEL, device)


def mix_of(name: str | None) -> str:
    from ..schemes.paper.mixing import CLI_NAMES
    return CLI_NAMES[name or "mask"]


def parse_hw(s):
    """--resize's (H, W): already parsed by size_hw, or a string (args built by hand) checked the same way."""
    if s is None or isinstance(s, tuple):
        return s
    try:
        return size_hw(s)
    except argparse.ArgumentTypeError as e:
        from ..errors import RICError
        raise RICError(f"--resize: {e}") from None


def streaming(args, inputs, world: int) -> bool:
    """Results are printed as they finish (JSON lines) for folders, --resume and torchrun (`world` > 1)."""
    from ..storage import location
    return args.resume or world > 1 or any(location(p).is_folder() for p in inputs)
