"""`ric encrypt` and `ric decrypt`: the options, the scheme they build, and the file engine run over the inputs."""
from __future__ import annotations

import sys

from . import options as opt
from .report import Reporter, warn_skipped


def add(sub) -> None:
    p = sub.add_parser("encrypt", help="encrypt images into RIC ciphertext PNGs",
                       epilog=opt.EPILOG_IMAGES + " " + opt.EPILOG_STREAM.format(cmd="encrypt"))
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders (a folder is streamed)")
    opt.key_option(p)
    opt.out_options(p)
    p.add_argument("--resize", metavar="HxW", default=None, help="resize inputs to this size first, e.g. 32x32")
    p.add_argument("--json", action="store_true", help="print JSON: {file, out, label, class[, error]} per image")
    p.add_argument("--scheme", choices=("paper", "sealed"), default="paper",
                   help="paper: the paper's RIC (lossy recovery, needs the model and classifier to decrypt); "
                        "sealed: lossless, authenticated-encryption payload under a 5-level adversarial image "
                        "(decrypts with the key alone). Decrypt reads the scheme from the ciphertext.")
    opt.margin_option(p)
    p.add_argument("--lossy-fallback", action="store_true",
                   help="sealed: when an image does not fit losslessly, store the best WebP quality that fits "
                        "and report its PSNR (default: refuse with an error naming size and capacity)")
    opt.mix_option(p)
    p.add_argument("--fast-decrypt", action="store_true",
                   help="paper scheme: also store n_adv in the ciphertext (authenticated-encrypted under the key), "
                        "so decryption does not re-run the attack and is exact across platforms; the file "
                        "grows by about 10 KB per 32x32 image")
    p.add_argument("--no-class-starts", action="store_true",
                   help="paper scheme: run Φ from the keyed noise alone, even where the classifier has class "
                        "starts (NAME.starts.safetensors beside its weights, from `ric prepare-classifier`); "
                        "slower, and the ciphertext's histogram stays closer to the noise's")
    opt.stream_options(p)
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
    p.add_argument("--regenerate", action="store_true",
                   help="re-run the attack even when the ciphertext carries its n_adv (--fast-decrypt)")
    opt.stream_options(p)
    opt.model_options(p, decrypt=True)
    opt.run_options(p)
    p.set_defaults(run=run_decrypt)


def encrypt_scheme(args, device):
    """The scheme that `ric encrypt`'s options name, with its models loaded."""
    if args.scheme == "sealed":
        from ..schemes.sealed.scheme import SealedScheme
        return SealedScheme(opt.load_classifier(args, device), device, margin=args.margin,
                            lossy_fallback=args.lossy_fallback, batch_size=args.batch_size)
    from ..schemes.paper.scheme import PaperScheme
    return PaperScheme(opt.load_ric_model(args, device), opt.load_classifier(args, device), device,
                       margin=args.margin, mix=opt.mix_of(args.mix), fast_decrypt=args.fast_decrypt,
                       batch_size=args.batch_size, starts=None if args.no_class_starts else "auto")


def _engine(args):
    from ..files.engine import FileEngine
    from ..files.stream import rank_world
    rank, world = rank_world()
    return FileEngine(window=args.window, show_progress=opt.progress_bars(args), rank=rank, world=world)


def run_encrypt(args) -> int:
    from ..keys import Key
    device = opt.device_of(args)
    key = Key.load(args.key)
    resize = opt.parse_hw(args.resize)
    scheme = encrypt_scheme(args, device)
    engine = _engine(args)
    rep = Reporter(args.json, opt.streaming(args, args.images, engine.world), progress=opt.progress_bars(args))
    lossy = []      # PSNR of each image stored lossily (--lossy-fallback)
    for r in engine.encrypt(scheme, key, args.images, args.out, force=args.force, resize=resize, resume=args.resume):
        rep.add(r)
        if r.info.get("lossy_psnr") is not None:
            lossy.append(r.info["lossy_psnr"])
            print(f"ric: warning: {r.src} did not fit losslessly; stored as WebP at {r.info['lossy_psnr']:.2f} dB "
                  "PSNR", file=sys.stderr)
    stored = f"; {len(lossy):,} of {rep.counts['done']:,} stored lossy, worst {min(lossy):.1f} dB" if lossy else ""
    _summary(args, "encrypted", rep, engine, stored + _retries(scheme))
    return rep.close()


def _retries(scheme) -> str:
    st = scheme.stats
    if scheme.name == "sealed":
        return f"; new nonces needed: {st['retries']}"
    return (f"; new nonces needed: {st['nae_retries']} (Φ missed the margin), {st['label_retries']} (ciphertext "
            "label changed)")


def _summary(args, verb: str, rep: Reporter, engine, extra: str = "", quiet: bool = False) -> None:
    warn_skipped(engine)
    if args.quiet or quiet:
        return
    where = f" (rank {engine.rank} of {engine.world})" if engine.world > 1 else ""
    c = rep.counts
    print(f"ric: {verb} {c['done']}, skipped {c['skipped']} already complete, failed {c['failed']}{where}{extra}",
          file=sys.stderr)


def run_decrypt(args) -> int:
    from ..keys import Key
    from ..schemes import Resolver
    device = opt.device_of(args)
    key = Key.load(args.key)
    resolver = Resolver(device, model=args.model, classifier=args.classifier, regenerate=args.regenerate,
                        batch_size=args.batch_size)
    engine = _engine(args)
    rep = Reporter(args.json, opt.streaming(args, args.ciphertexts, engine.world), progress=opt.progress_bars(args))
    for r in engine.decrypt(resolver, key, args.ciphertexts, args.out, force=args.force, resume=args.resume):
        rep.add(r)
    _summary(args, "decrypted", rep, engine, quiet=not rep.stream)
    return rep.close()
