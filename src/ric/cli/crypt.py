"""`ric encrypt` and `ric decrypt`: the options, the scheme they build, and the file engine run over the inputs."""
from __future__ import annotations

import functools
import sys

from ..formats import SCHEMES
from . import options as opt
from .report import CIPHERTEXTS, IMAGES, Reporter, warn_skipped


def add(sub) -> None:
    p = sub.add_parser("encrypt", help="encrypt images into RIC ciphertext PNGs",
                       epilog=opt.EPILOG_IMAGES + " " + opt.EPILOG_STREAM.format(cmd="encrypt"))
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders (a folder is streamed)")
    opt.key_option(p)
    opt.out_options(p)
    p.add_argument("--resize", metavar="HxW", type=opt.size_hw, default=None,
                   help="resize inputs to this size first, e.g. 32x32 (sides 8..4096)")
    p.add_argument("--json", action="store_true", help="print JSON: {file, out, label, class[, error]} per image")
    p.add_argument("--scheme", choices=SCHEMES, default=None,
                   help="sealed (the default, unless a paper-scheme option such as --model, --mix or "
                        "--no-class-starts is given: then paper): lossless — the input file (or its pixels), sealed "
                        "with authenticated encryption, under a 5-level adversarial image; decrypts bit-exactly "
                        "with the key alone. "
                        "paper: the paper's RIC (lossy recovery, about 46 dB; decrypting needs the key, the RIC "
                        "model and the classifier). Both decrypt to the same bytes on any machine. Decrypt reads "
                        "the scheme from the ciphertext; `ric info --formats` lists every format.")
    opt.margin_option(p)
    p.add_argument("--lossy-fallback", action="store_true",
                   help="sealed: when an image does not fit losslessly, store the best WebP quality that fits "
                        "and report its PSNR (default: refuse with an error naming size and capacity)")
    opt.mix_option(p)
    p.add_argument("--no-class-starts", action="store_true",
                   help="paper scheme: run Φ from the keyed noise alone, even where the classifier has class "
                        "starts (NAME.starts.safetensors beside its weights, from `ric prepare-classifier`); "
                        "slower, and the ciphertext's histogram stays closer to the noise's")
    opt.stream_options(p)
    opt.engine_options(p)
    opt.model_options(p)
    opt.run_options(p)
    p.set_defaults(run=run_encrypt)

    p = sub.add_parser("decrypt", help="recover images from RIC ciphertexts with the key",
                       epilog=opt.EPILOG_STREAM.format(cmd="decrypt"))
    p.add_argument("ciphertexts", nargs="+", metavar="CIPHERTEXT", help="ciphertext files or folders of them")
    opt.key_option(p)
    opt.out_options(p)
    p.add_argument("--json", action="store_true", help="print JSON: {file, out, label, class[, error]} per image "
                   "(label and class null for the sealed scheme, which stores no label)")
    opt.stripped_option(p)
    p.add_argument("--regenerate", action="store_true",
                   help="paper formats ric/1-ric/3 that carry their exact n_adv (an rcNa chunk): re-run the attack "
                        "instead (ric/4 and sealed ciphertexts never re-run it)")
    opt.stream_options(p)
    opt.engine_options(p)
    opt.model_options(p, decrypt=True)
    opt.run_options(p)
    p.set_defaults(run=run_decrypt)


def encrypt_scheme(args, device):
    """The scheme that `ric encrypt`'s options name (ric.schemes.registry: `--scheme`, else the scheme whose own
    options are given, else the default; another scheme's options are refused, exit 2), with its models loaded."""
    from ..schemes.registry import build_from_args, choose_scheme, scheme_spec
    spec = scheme_spec(choose_scheme(args))
    model = opt.load_ric_model(args, device) if spec.needs_model else None
    return build_from_args(args, opt.load_classifier(args, device), model, device)


def run_ray(args, kind: str, make, key, resize=None) -> int:
    """Run `kind` on a Ray cluster (ric.files.ray_engine): results printed as they come, then the summary."""
    from types import SimpleNamespace

    from ..errors import RICError
    from ..files.ray_engine import Cluster, Job, run
    from ..files.stream import Skipped, rank_world
    from ..storage import absolute
    if rank_world()[1] > 1:
        raise RICError("--engine ray runs one driver: start it once, not under torchrun")
    if not 0 < args.worker_cpus <= 64:
        raise RICError("--worker-cpus must be above 0 (fractions allowed) and at most 64")
    job = Job(kind, make, key, absolute(args.out), force=args.force, resume=args.resume, resize=resize,
              window=args.window, threads=max(1, int(args.worker_cpus)))
    cluster = Cluster(args.ray_address, args.workers, args.worker_cpus, show_progress=opt.progress_bars(args))
    seen = SimpleNamespace(rank=0, world=1, skipped_folders=[], skipped_files=Skipped())
    rep = Reporter(args.json, True, progress=opt.progress_bars(args))
    inputs = [absolute(p) for p in (args.images if kind == "encrypt" else args.ciphertexts)]
    for r in run(job, inputs, cluster, seen.skipped_folders, seen.skipped_files):
        rep.add(r)
    extra = f" ({args.workers} Ray workers)"
    _summary(args, "encrypted" if kind == "encrypt" else "decrypted", rep, seen, extra)
    return rep.close()


def _engine(args):
    from ..files.engine import FileEngine
    from ..files.stream import rank_world
    rank, world = rank_world()
    return FileEngine(window=args.window, show_progress=opt.progress_bars(args), rank=rank, world=world,
                      progress_lines=opt.progress_lines(args))


def run_encrypt(args) -> int:
    from ..keys import Key
    from ..storage import location
    location(args.out).check_out_folder()
    device = opt.device_of(args)
    key = Key.load(args.key)
    resize = opt.parse_hw(args.resize)
    scheme = encrypt_scheme(args, device)       # built here too under --engine ray: bad options fail at once
    if args.engine == "ray":
        return run_ray(args, "encrypt", functools.partial(encrypt_scheme, args, device), key, resize)
    engine = _engine(args)
    rep = Reporter(args.json, opt.streaming(args, args.images, engine.world), progress=opt.progress_bars(args))
    results = engine.encrypt(scheme, key, args.images, args.out, force=args.force, resize=resize, resume=args.resume)
    _summary(args, "encrypted", rep, engine, report_encrypted(rep, results) + _retries(scheme))
    return rep.close()


def report_encrypted(rep: Reporter, results) -> str:
    """Add each result to the report, with a warning for an image stored lossily (--lossy-fallback); the summary's
    count of them ("" when none)."""
    lossy = []      # PSNR of each image stored lossily
    for r in results:
        rep.add(r)
        if r.info.get("lossy_psnr") is not None:
            lossy.append(r.info["lossy_psnr"])
            print(f"ric: warning: {r.src} did not fit losslessly; stored as WebP at {r.info['lossy_psnr']:.2f} dB "
                  "PSNR", file=sys.stderr)
    return f"; {len(lossy):,} of {rep.counts['done']:,} stored lossy, worst {min(lossy):.1f} dB" if lossy else ""


def _retries(scheme) -> str:
    st = scheme.stats        # one shape for every scheme (ric.schemes.base.Scheme.stats)
    if not st["nae_retries"]:
        return f"; new nonces needed: {st['retries']}"
    return (f"; new nonces needed: {st['retries']} ({st['nae_retries']} Φ missed the margin, {st['label_retries']} "
            "ciphertext label changed)")


def _summary(args, verb: str, rep: Reporter, engine, extra: str = "") -> None:
    warn_skipped(engine, CIPHERTEXTS if verb == "decrypted" else IMAGES)
    if args.quiet:
        return
    where = f" (rank {engine.rank} of {engine.world})" if engine.world > 1 else ""
    c = rep.counts
    print(f"ric: {verb} {c['done']}, skipped {c['skipped']} already complete, failed {rep.failed()}{where}{extra}",
          file=sys.stderr)


def run_decrypt(args) -> int:
    from ..keys import Key
    from ..schemes import Resolver
    from ..storage import location
    location(args.out).check_out_folder()
    device = opt.device_of(args)
    key = Key.load(args.key)
    resolver = functools.partial(Resolver, device, model=args.model, classifier=args.classifier,
                                 regenerate=args.regenerate, batch_size=args.batch_size,
                                 allow_stripped=args.allow_stripped)
    if args.engine == "ray":
        return run_ray(args, "decrypt", resolver, key)
    resolver = resolver()
    engine = _engine(args)
    rep = Reporter(args.json, opt.streaming(args, args.ciphertexts, engine.world), progress=opt.progress_bars(args))
    for r in engine.decrypt(resolver, key, args.ciphertexts, args.out, force=args.force, resume=args.resume):
        rep.add(r)
    _summary(args, "decrypted", rep, engine)
    return rep.close()
