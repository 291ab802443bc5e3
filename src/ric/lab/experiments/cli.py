"""The `ric experiment` sub-command (argument parsing and dispatch; torch loads only when one runs)."""
from __future__ import annotations

import time

from ...cli.options import POSITIVE, check_device


def add_parsers(sub) -> None:
    from . import EXPERIMENTS
    p = sub.add_parser("experiment", help="reproduce a table/figure of the paper (" + ", ".join(EXPERIMENTS) + ")",
                       description="Experiments: " + "; ".join(f"{k}: {v[1]}" for k, v in EXPERIMENTS.items()))
    p.add_argument("name", metavar="NAME", help="one of: " + ", ".join(EXPERIMENTS))
    p.add_argument("--budget", type=float, default=120.0, metavar="SECONDS",
                   help="training wall time per trained model (default 120)")
    p.add_argument("--data", action="append", default=[], metavar="SPEC",
                   help="dataset short name (cifar10, mnist, celeba64) or .npz path; repeatable (default: the "
                        "experiment's own choice)")
    p.add_argument("--out", default="runs/experiments", metavar="DIR",
                   help="folder for NAME.json, NAME.md and per-part results (default runs/experiments)")
    p.add_argument("--resume", action="store_true", help="skip parts whose result JSON already exists")
    p.add_argument("--n-eval", type=int, default=200, help="test images per evaluation (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default="", metavar="TAGS",
                   help="comma list of parts to run, to split a long run (baselines: lsb4, lsb4_mid, ddh, hinet, "
                        "iicnet, ric_shipped); the tables list every finished part found in --out")
    p.add_argument("--bank-per-class", type=int, default=20, metavar="N",
                   help="NAE bank rows per label (default 20; the bank is cached in OUT/banks and resumable)")
    p.add_argument("--threads", type=POSITIVE, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def run_experiment(args) -> int:
    from ...errors import RICError
    from . import get
    mod = get(args.name)
    if args.budget <= 0:
        raise RICError("--budget must be positive")
    if args.n_eval < 1:
        raise RICError("--n-eval must be at least 1")
    only = [t for t in args.only.split(",") if t]
    parts = getattr(mod, "PARTS", None)
    if only and parts is None:
        raise RICError(f"--only is not supported by experiment {args.name!r}")
    unknown = [t for t in only if t not in (parts or ())]
    if unknown:
        raise RICError(f"unknown part(s) for --only: {', '.join(unknown)} (known: {', '.join(parts)})")
    if args.bank_per_class < 1:
        raise RICError("--bank-per-class must be at least 1")
    import torch
    torch.set_num_threads(max(1, args.threads))
    from .common import Context
    ctx = Context(args.name, args.out, args.budget, list(args.data), args.resume, check_device(args.device),
                  not args.quiet, args.n_eval, args.seed, only, args.bank_per_class)
    t = time.time()
    mod.run(ctx)
    print(f"ric: experiment {args.name} done in {time.time() - t:.0f} s; tables in "
          f"{args.out}/{args.name}.md and .json")
    return 0
