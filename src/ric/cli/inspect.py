"""`ric keygen`, `ric classify`, `ric info`, `ric models`, `ric demo`: the small commands."""
from __future__ import annotations

import json
import os

from . import options as opt
from .report import Reporter, fail, warn_skipped


def add(sub) -> None:
    p = sub.add_parser("keygen", help="write a new 256-bit secret key file (mode 0600)")
    p.add_argument("keyfile")
    p.add_argument("--force", action="store_true", help="overwrite an existing key file (its images become "
                   "undecryptable)")
    p.set_defaults(run=run_keygen)

    p = sub.add_parser("classify", help="label images (plaintexts or ciphertexts alike) with a plaintext classifier",
                       epilog="Any 8-bit image Pillow reads is converted to RGB and labelled at its own size; the "
                              "classifier is the cloud's, unmodified: a ciphertext gets its plaintext's label.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders (a folder is streamed a window "
                   "at a time; sub-folders are not entered)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {file, label, class} at the end")
    opt.window_option(p, "images held in memory at once (default 256)")
    opt.model_options(p, ric_model=False)
    opt.run_options(p)
    p.set_defaults(run=run_classify)

    p = sub.add_parser("info", help="show the public metadata of ciphertexts (no key needed), or the table of formats",
                       epilog="Each line names the ciphertext's format (ric.formats) and what decrypting it needs; "
                              "--formats prints every format RIC reads and which it writes.")
    p.add_argument("ciphertexts", nargs="*", metavar="CIPHERTEXT")
    p.add_argument("--formats", action="store_true", help="print the table of formats and exit")
    p.set_defaults(run=run_info)

    p = sub.add_parser("models", help="list shipped models and architectures")
    p.set_defaults(run=run_models)

    p = sub.add_parser("demo", help="encrypt, classify and decrypt the bundled CIFAR-10 samples and, with the "
                       "pretrained extra, the bundled real photos; print tables and write figures")
    p.add_argument("--out", default="ric-demo", metavar="DIR", help="folder for the demo's files (default ric-demo)")
    opt.device_options(p)
    p.set_defaults(run=run_demo)


def run_keygen(args) -> int:
    from ..keys import Key
    Key.generate().save(args.keyfile, force=args.force)
    print(f"wrote a new 256-bit key to {args.keyfile} (mode 600); keep it private and backed up")
    return 0


def run_classify(args) -> int:
    from ..files.engine import FileEngine
    device = opt.device_of(args)
    clf = opt.load_classifier(args, device)
    bars = opt.progress_bars(args)
    engine = FileEngine(window=args.window, show_progress=bars)
    rep = Reporter(args.json, stream=False, fields=("file", "label", "class"), progress=bars)
    for r in engine.classify(clf, args.images, device, args.batch_size):
        rep.add(r)
    warn_skipped(engine)
    return rep.close()


def info_of(parsed) -> dict:
    """The public metadata of a parsed ciphertext, its format's row of the table (ric.formats) and whether decrypting
    it re-runs Φ (`regenerates`: then it needs the encryptor's float rounding)."""
    from ..formats import BY_NAME, sealed_name
    if parsed.header is None:
        h, w = parsed.pixels.shape[:2]
        from ..schemes.sealed.stream import sealed_version
        version = sealed_version(parsed.pixels)
        fmt = BY_NAME[sealed_name(version)]
        return {"scheme": "sealed", "format": fmt.name, "version": version, "height": h, "width": w,
                "regenerates": False, "needs": fmt.needs, "written": fmt.written}
    hd = parsed.header
    fmt = BY_NAME[hd.format]
    regenerates = hd.format != "ric/4" and not hd.nadv
    return {**hd.public(), "regenerates": regenerates, "needs": fmt.needs, "written": fmt.written}


def run_info(args) -> int:
    from ..errors import RICError
    from ..schemes.container import read
    if args.formats or not args.ciphertexts:
        from ..formats import markdown
        print(markdown())
        return 0
    code = 0
    for path in args.ciphertexts:
        try:
            print(json.dumps({"file": path, **info_of(read(path))}))
        except RICError as e:
            code = code or fail(f"{path}: {e}", e.exit_code)
    return code


def run_models(args) -> int:
    from .. import hub
    from ..classifiers import list_classifiers
    from ..nets import list_ric_models
    print("shipped RIC models (--model):", ", ".join(hub.shipped_names("ric")) or "none")
    print("shipped classifiers (--classifier):",
          ", ".join(hub.shipped_names("classifier")) or "none")
    from ..classifiers.pretrained import EXTRA, PRETRAINED, installed
    print(f"pretrained classifiers (--classifier; the {EXTRA} extra):",
          ", ".join(f"{n}{'' if installed(n) else ' (not installed)'}" for n in sorted(PRETRAINED)))
    with_starts = [n for n in hub.shipped_names("classifier") if os.path.isfile(
        os.path.join(hub.WEIGHTS_DIR, f"{n}_classifier.starts.safetensors"))]
    print("classifiers with class starts (Φ begins from them; ric prepare-classifier):",
          ", ".join(with_starts) or "none")
    print("RIC architectures:", ", ".join(list_ric_models()))
    print("classifier architectures:", ", ".join(list_classifiers()))
    return 0


def run_demo(args) -> int:
    from ..demo import run_demo as demo
    return demo(args.out, opt.device_of(args))
