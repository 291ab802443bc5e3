"""`ric evaluate`, `ric train`, `ric train-classifier`, `ric data`: the researcher's commands."""
from __future__ import annotations

import json

from . import options as opt
from .report import fail

DATA_SPEC = ("dataset: FILE.npz, cifar10:DIR, mnist:DIR, svhn:DIR or folder:DIR[?size=HxW] "
             "(see `ric data --help`)")


def add(sub) -> None:
    p = sub.add_parser("evaluate", help="measure ACC_p, ACC_e, ADP, PSNR, SSIM, NAE success, timings and "
                       "leakage on a dataset's test split")
    p.add_argument("--data", required=True, metavar="SPEC", help=DATA_SPEC)
    p.add_argument("--n", type=int, default=500, help="number of test images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="which test images (a seeded random subset)")
    p.add_argument("--json", action="store_true", help="print the measurements as one JSON object")
    p.add_argument("--scheme", choices=("paper", "sealed"), default="paper")
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

    p = sub.add_parser("data", help="download datasets or show what a dataset spec loads")
    p.add_argument("action", choices=("download", "info"))
    p.add_argument("name", metavar="NAME|SPEC", help="download: cifar10, mnist or svhn; info: a dataset spec "
                   "(FILE.npz, cifar10:DIR, mnist:DIR, svhn:DIR, folder:DIR[?size=HxW])")
    p.add_argument("--out", metavar="DIR", help="download: folder for the files")
    p.set_defaults(run=run_data)


def run_evaluate(args) -> int:
    from ..evaluate import evaluate
    device = opt.device_of(args)
    model = opt.load_ric_model(args, device) if args.scheme == "paper" else None
    clf = opt.load_classifier(args, device)
    res = evaluate(model, clf, args.data, args.n, args.seed, device, args.batch_size, not args.quiet,
                   args.scheme, args.margin, opt.mix_of(args.mix))
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
