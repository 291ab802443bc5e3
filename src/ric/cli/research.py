"""`ric evaluate`, `ric train`, `ric train-classifier`, `ric data`: the researcher's commands."""
from __future__ import annotations

import json

from ..formats import SCHEMES
from . import options as opt
from .report import fail

APART = 10.0   # prepare-classifier's default weight for moving starts' self-correlation penalty (ric.starts.fit_starts)
DATA_SPEC = ("dataset: FILE.npz, cifar10:DIR, mnist:DIR, svhn:DIR or folder:DIR[?size=HxW] "
             "(see `ric data --help`)")


def add(sub) -> None:
    p = sub.add_parser("evaluate", help="measure ACC_p, ACC_e, ADP, PSNR, SSIM, NAE success, timings and "
                       "leakage on a dataset's test split")
    p.add_argument("--data", required=True, metavar="SPEC", help=DATA_SPEC)
    p.add_argument("--n", type=int, default=500, help="number of test images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="which test images (a seeded random subset)")
    p.add_argument("--json", action="store_true", help="print the measurements as one JSON object")
    p.add_argument("--scheme", choices=SCHEMES, default="paper",
                   help="paper (default: the paper's metrics, PSNR of the lossy recovery) or sealed")
    opt.margin_option(p)
    opt.mix_option(p)
    opt.model_options(p)
    opt.run_options(p)
    p.set_defaults(run=run_evaluate)

    for name, what in (("train", "train a RIC model (F, E, D) against a classifier"),
                       ("train-classifier", "train a plaintext classifier on a dataset (see `ric data --help`)")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--config", metavar="YAML", help="overrides of the defaults (see --show-defaults); saved "
                       "with the run as config.yaml")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key (YAML "
                       "value); after --config")
        p.add_argument("--out", metavar="DIR", help="run folder (config.yaml, checkpoints, metrics)")
        p.add_argument("--resume", action="store_true", help="continue the run in --out")
        p.add_argument("--show-defaults", action="store_true", help="print the default configuration and exit")
        opt.device_options(p)
        p.set_defaults(run=run_train)

    p = sub.add_parser("prepare-classifier", help="fit the class starts that make encryption's Φ start close to "
                       "each label (written beside the classifier's weights)")
    opt.model_options(p)
    p.add_argument("--size", required=True, metavar="H[xW]", help="image size to fit them at (the classifier's "
                   "training size; other sizes get them resized)")
    p.add_argument("--alpha", type=float, default=0.3, help="blend weight α: Φ starts at (1 − α)·noise + α·p_y "
                   "(default 0.3; larger is faster and narrows the ciphertext's histogram)")
    p.add_argument("--steps", type=int, default=150, help="optimisation steps (default 150)")
    p.add_argument("--fit-margin", type=float, default=None, metavar="G", help="margin the patterns are fitted "
                   "for (default: Φ's margin g1; above it, more noise images start past g1 — the shipped celeba64 "
                   "starts are fitted for 2 × g1)")
    p.add_argument("--per-class", type=int, default=4, help="noise images per label per step (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise batches (default 0)")
    p.add_argument("--moves", choices=("shift-flip", "none"), default="shift-flip", help="shift-flip (default): "
                   "each image's pattern is mirrored and shifted by its key and nonce, so same-label ciphertexts "
                   "share no picture; none: one fixed pattern per label")
    p.add_argument("--apart", type=float, default=APART, metavar="W", help="with moves: weight of the penalty on "
                   f"a pattern's correlation with its own shifted and mirrored copies above 0.1 (default {APART})")
    p.add_argument("--out", default=None, metavar="FILE", help="where to write them (default: beside the "
                   "classifier's weights, NAME.starts.safetensors; that is where encryption looks)")
    p.add_argument("--force", action="store_true", help="overwrite an existing starts file")
    opt.device_options(p)
    p.set_defaults(run=run_prepare_classifier)

    p = sub.add_parser("data", help="download datasets or show what a dataset spec loads")
    p.add_argument("action", choices=("download", "info"))
    p.add_argument("name", metavar="NAME|SPEC", help="download: cifar10, mnist or svhn; info: a dataset spec "
                   "(FILE.npz, cifar10:DIR, mnist:DIR, svhn:DIR, folder:DIR[?size=HxW])")
    p.add_argument("--out", metavar="DIR", help="download: folder for the files")
    p.set_defaults(run=run_data)


def run_prepare_classifier(args) -> int:
    import os

    from tqdm import tqdm

    from ..errors import ConfigError, OutputExistsError
    from ..schemes.paper.scheme import PaperScheme
    from ..starts import ClassStarts, fit_starts, save_starts, starts_path
    if not 0 < args.alpha < 1 or args.steps < 1 or args.per_class < 1 or not args.apart >= 0:
        raise ConfigError("--alpha must lie in (0, 1); --steps and --per-class must be positive, --apart at least 0")
    if args.fit_margin is not None and not args.fit_margin > 0:
        raise ConfigError(f"--fit-margin must be positive, got {args.fit_margin}")
    device = opt.device_of(args)
    try:
        h, w = (int(v) for v in (args.size.lower().split("x") * 2)[:2])
    except ValueError:
        raise ConfigError(f"--size expects H or HxW, e.g. 64 or 64x48, got {args.size!r}") from None
    clf, model = opt.load_classifier(args, device), opt.load_ric_model(args, device)
    if not clf.path.endswith(".safetensors") and args.out is None:
        raise ConfigError("pass --out for a classifier that is not a .safetensors file")
    out = args.out or starts_path(clf.path)
    if os.path.exists(out) and not args.force:
        raise OutputExistsError(f"{out} exists (pass --force to replace it; the old file is then kept beside it "
                                "for the ciphertexts made with it)")
    phi = PaperScheme(model, clf, device, starts=None).codec.phi     # the margin and the view encryption uses
    margin = phi.margin if args.fit_margin is None else args.fit_margin
    with tqdm(total=args.steps, desc="class starts", disable=None) as bar:
        moves = "" if args.moves == "none" else args.moves
        patterns, record = fit_starts(clf.module, (3, h, w), args.alpha, phi.view, margin, args.steps,
                                      args.per_class, seed=args.seed, device=device,
                                      progress=lambda s, loss, r: (bar.update(1), bar.set_postfix(reached=r)),
                                      moves=moves, apart=args.apart if moves else 0.0)
    record["model"] = model.identity
    starts = ClassStarts(patterns, float(args.alpha), float(phi.view), clf.identity, record, moves)
    kept = _keep_replaced_starts(out)
    save_starts(starts, out)
    if kept:
        print(f"kept the replaced class starts as {kept} (ciphertexts made with them still decrypt)")
    print(f"class starts {starts.digest} for {clf.identity} (α {args.alpha}, view {phi.view}, fitted for margin "
          f"{margin}; Φ's is {phi.margin}; {h}x{w}): {record['reached_last_batch']:.0%} of the last batch at "
          f"{margin} before Φ; wrote {out}")
    return 0


def _keep_replaced_starts(path: str) -> str | None:
    """Before `path` is replaced: keep the starts file there as NAME@DIGEST.starts.safetensors beside it (never
    destroy what ciphertexts need); its path, or None when there was none. A file that is not a starts file is
    replaced as --force says."""
    import os

    from ..starts import kept_starts_path, load_starts
    if not os.path.exists(path):
        return None
    try:
        old = load_starts(path)
    except (ValueError, OSError):
        return None
    kept = kept_starts_path(path, old.digest)
    if not os.path.exists(kept):
        os.replace(path, kept)
    return kept


def run_evaluate(args) -> int:
    from ..evaluate import evaluate
    from ..schemes.registry import choose_scheme, scheme_spec
    spec = scheme_spec(choose_scheme(args))       # another scheme's options (--mix with sealed): exit 2
    device = opt.device_of(args)
    model = opt.load_ric_model(args, device) if spec.needs_model else None
    clf = opt.load_classifier(args, device)
    built = {k: v for k, v in spec.build_kwargs(args).items() if k != "batch_size"}   # as `ric encrypt` builds it
    res = evaluate(model, clf, args.data, args.n, args.seed, device, args.batch_size, not args.quiet, spec.name,
                   **built)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            print(f"{k:<38} {v:.4f}" if isinstance(v, float) else f"{k:<38} {v}")
    return 0


def overrides(args) -> dict:
    import yaml

    from ..errors import RICError
    from ..training.checkpoint import load_config
    ov = load_config(args.config) if args.config else {}
    for kv in args.set:
        if "=" not in kv:
            raise RICError(f"--set expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        ov[k] = yaml.safe_load(v)
    return ov


def run_train(args) -> int:
    if args.cmd == "train":
        from ..training.ric import DEFAULTS
        from ..training.ric import train_ric as train
    else:
        from ..training.classifier import DEFAULTS
        from ..training.classifier import train_classifier as train
    if args.show_defaults:
        import yaml
        print(yaml.safe_dump(DEFAULTS, sort_keys=False), end="")
        return 0
    if not args.out:
        return fail("--out DIR is required")
    result = train(args.out, overrides(args), resume=args.resume, device=opt.device_of(args))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
    return 0


def run_data(args) -> int:
    from ..datasets.cli import run_data as run
    return run(args)
