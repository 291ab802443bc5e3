"""`ric reencrypt`: ciphertexts of any format into the current one (or another scheme, or under a new key)."""
from __future__ import annotations

from ..formats import DEFAULT_SCHEME, SCHEMES
from . import options as opt
from .crypt import _engine, _summary, report_encrypted
from .report import Reporter

EPILOG = ("Each ciphertext is decrypted in memory with --key (any format RIC reads: `ric info --formats`) and its "
          "recovered file encrypted again with --scheme (default: sealed, the format RIC writes by default) under "
          "--new-key (default: the same key), into DIR/<name>.png. The originals are never changed or deleted, and "
          "an output never replaces an input. A ciphertext that does not decrypt keeps its usual error and exit "
          "code (for the older paper formats, exit 10 names the machine that made it: decrypt those there). The "
          "target is made for the classifier (and, with --scheme paper, the RIC model) each ciphertext names, "
          "unless --classifier / --model fix them; sealed ciphertexts name none (default cifar10).")


def add(sub) -> None:
    p = sub.add_parser("reencrypt", help="re-encrypt ciphertexts of any format into the current format (or another "
                       "scheme, or a new key); the originals are kept", epilog=EPILOG + " " +
                       opt.EPILOG_STREAM.format(cmd="reencrypt"))
    p.add_argument("ciphertexts", nargs="+", metavar="CIPHERTEXT", help="ciphertext files or folders of them")
    opt.key_option(p)
    p.add_argument("--new-key", default=None, metavar="KEYFILE", help="encrypt under this key instead (key "
                   "rotation); default: --key")
    opt.out_options(p)
    p.add_argument("--scheme", choices=SCHEMES, default=None, help=f"the scheme to write (default {DEFAULT_SCHEME}; "
                   "paper when a paper-scheme option such as --model or --mix is given)")
    p.add_argument("--json", action="store_true", help="print JSON: {file, out, label, class[, error]} per image")
    opt.margin_option(p)
    p.add_argument("--lossy-fallback", action="store_true",
                   help="sealed: store an image that does not fit losslessly as the best WebP that fits (default: "
                        "refuse it, exit 14, and keep the original)")
    opt.mix_option(p)
    opt.stripped_option(p)
    p.add_argument("--no-class-starts", action="store_true", help="paper scheme: Φ from the keyed noise alone")
    opt.stream_options(p)
    opt.model_options(p)
    opt.run_options(p)
    p.set_defaults(run=run_reencrypt)


def _maker(args, device):
    """make(scheme name, classifier name, model name) -> a scheme that encrypts, as `ric encrypt` builds it
    (ric.schemes.registry: the shared options and the scheme's own)."""
    from ..schemes.registry import build_scheme, scheme_spec

    def make(name: str, classifier: str, model: str | None):
        spec = scheme_spec(name)
        return build_scheme(name, classifier, model if spec.needs_model else None, device, **spec.build_kwargs(args))
    return make


def run_reencrypt(args) -> int:
    from ..files.reencrypt import Targets
    from ..keys import Key
    from ..schemes import Resolver
    from ..schemes.registry import choose_scheme
    from ..storage import location
    choose_scheme(args)                 # --scheme, or the one whose options are given; others' options: exit 2
    location(args.out).check_out_folder()
    device = opt.device_of(args)
    key = Key.load(args.key)
    new_key = Key.load(args.new_key) if args.new_key else key
    targets = Targets(args.scheme, _maker(args, device), args.classifier, args.model)
    engine = _engine(args)
    rep = Reporter(args.json, opt.streaming(args, args.ciphertexts, engine.world), progress=opt.progress_bars(args))
    resolver = Resolver(device, batch_size=args.batch_size, allow_stripped=args.allow_stripped)
    results = engine.reencrypt(resolver, targets, key, new_key, args.ciphertexts, args.out, force=args.force,
                               resume=args.resume)
    _summary(args, "re-encrypted", rep, engine, report_encrypted(rep, results))
    return rep.close()
