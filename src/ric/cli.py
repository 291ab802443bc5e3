"""The `ric` command. Every error is one line `ric: error: ...` on stderr and a non-zero exit code."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

EPILOG_IMAGES = ("Input images: any 8-bit image Pillow reads is CONVERTED to RGB (greyscale, palette, CMYK; "
                 "an alpha channel is dropped with a warning); 16-bit and floating-point images are REFUSED; "
                 "sides must be 8..4096 pixels. Images are encrypted at their own size (the networks are fully "
                 "convolutional) unless --resize gives a size; the shipped cifar10 classifier was trained on "
                 "32x32 images and labels other sizes less accurately.")


EPILOG_STREAM = ("Folders are streamed (constant memory, one progress bar, results printed as they finish; with "
                 "--json one JSON object per line). --resume skips outputs that are already complete and never "
                 "overwrites anything else. Under torchrun (e.g. `torchrun --standalone --nproc-per-node 4 -m "
                 "ric.cli encrypt ...`) each process takes its own disjoint share of the files.")


def _stream_flags(p):
    p.add_argument("--resume", action="store_true", help="skip inputs whose output already exists and is complete "
                   "(a ciphertext under this key / a readable image); anything else there is an error, never "
                   "overwritten")
    p.add_argument("--window", type=int, default=256, metavar="N",
                   help="images held in memory at once when streaming (default 256)")


def _device(args):
    import torch
    if getattr(args, "cpu", False):
        return "cpu"
    if getattr(args, "device", None):
        return args.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _common(p, models=True):
    if models:
        p.add_argument("--model", default=None, help="shipped RIC model name or .safetensors path (default: cifar10; "
                       "decrypt: the model named in the ciphertext)")
    p.add_argument("--classifier", default=None, help="shipped classifier name, .safetensors or TorchScript path "
                   "(default: cifar10; decrypt: the classifier named in the ciphertext)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda:1 (default: cuda if available)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ric", description="Recoverable privacy-preserving image classification: "
                                 "encrypt images into noise-like PNGs that ordinary classifiers still label "
                                 "correctly, and recover them with the key.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("keygen", help="write a new 256-bit secret key file (mode 0600)")
    p.add_argument("keyfile")
    p.add_argument("--force", action="store_true", help="overwrite an existing key file (its images become "
                   "undecryptable)")

    p = sub.add_parser("encrypt", help="encrypt images into RIC ciphertext PNGs",
                       epilog=EPILOG_IMAGES + " " + EPILOG_STREAM)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders (a folder is streamed)")
    p.add_argument("--key", required=True, metavar="KEYFILE")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder; outputs are DIR/<name>.png")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--resize", metavar="HxW", default=None, help="resize inputs to this size first, e.g. 32x32")
    p.add_argument("--json", action="store_true", help="print a JSON list of {file, out, label, class, error}")
    p.add_argument("--scheme", choices=("paper", "sealed"), default="paper",
                   help="paper: the paper's RIC (lossy recovery, needs the model and classifier to decrypt); "
                        "sealed: lossless, authenticated-encryption payload under a 5-level adversarial image "
                        "(decrypts with the key alone). Decrypt reads the scheme from the ciphertext.")
    p.add_argument("--margin", type=float, default=None, metavar="G1",
                   help="the attack's logit margin g1 (default: the RIC model's trained margin; for sealed, the "
                        "classifier's own sealed settings if it has them, else 5). A weak classifier with small "
                        "logit gaps may need less (the shipped celeba64 classifier carries 2)")
    p.add_argument("--lossy-fallback", action="store_true",
                   help="sealed: when an image does not fit losslessly, store the best WebP quality that fits "
                        "and report its PSNR (default: refuse with an error naming size and capacity)")
    _mix_flag(p)
    p.add_argument("--fast-decrypt", action="store_true",
                   help="paper scheme: also seal n_adv in the ciphertext (authenticated-encrypted under the key), "
                        "so decryption does not re-run the attack and is exact across platforms; the file "
                        "grows by about 10 KB per 32x32 image")
    _stream_flags(p)
    _common(p)

    p = sub.add_parser("classify", help="label images (plaintexts or ciphertexts) with a plaintext classifier",
                       epilog=EPILOG_IMAGES)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print a JSON list of {file, label, class}")
    _common(p, models=False)

    p = sub.add_parser("decrypt", help="recover images from RIC ciphertexts with the key", epilog=EPILOG_STREAM)
    p.add_argument("ciphertexts", nargs="+", metavar="CIPHERTEXT", help="ciphertext files or folders of them")
    p.add_argument("--key", required=True, metavar="KEYFILE")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder; outputs are DIR/<name>.png")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--regenerate", action="store_true",
                   help="re-run the attack even when the ciphertext carries a sealed n_adv (--fast-decrypt)")
    _stream_flags(p)
    _common(p)

    p = sub.add_parser("evaluate", help="measure ACC_p, ACC_e, ADP, PSNR, SSIM, NAE success, timings and "
                       "leakage on a dataset's test split")
    p.add_argument("--data", required=True, metavar="SPEC", help="dataset: FILE.npz, cifar10:DIR, mnist:DIR, "
                   "svhn:DIR or folder:DIR[?size=HxW] (see `ric data --help`)")
    p.add_argument("--n", type=int, default=500, help="number of test images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="which test images (a seeded random subset)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--scheme", choices=("paper", "sealed"), default="paper")
    p.add_argument("--margin", type=float, default=None, metavar="G1",
                   help="the attack's logit margin g1 (default: the RIC model's trained margin; for sealed, the "
                   "classifier's sealed settings, else 5)")
    _mix_flag(p)
    _common(p)

    p = sub.add_parser("info", help="show the public metadata of ciphertexts (no key needed)")
    p.add_argument("ciphertexts", nargs="+", metavar="CIPHERTEXT")

    p = sub.add_parser("models", help="list shipped models and architectures")

    p = sub.add_parser("demo", help="encrypt, classify and decrypt the bundled sample images; print a table "
                       "and write a figure")
    p.add_argument("--out", default="ric-demo", metavar="DIR", help="folder for the demo's files (default ric-demo)")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--device", default=None)

    p = sub.add_parser("train", help="train a RIC model (F, E, D) against a classifier")
    p.add_argument("--config", metavar="YAML", help="overrides of the defaults (see `ric train --show-defaults`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key (YAML value)")
    p.add_argument("--out", metavar="DIR", help="run folder (config.yaml, checkpoints, metrics)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--show-defaults", action="store_true")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--device", default=None)

    p = sub.add_parser("train-classifier", help="train a plaintext classifier on a dataset (see `ric data --help`)")
    p.add_argument("--config", metavar="YAML")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--show-defaults", action="store_true")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--device", default=None)

    p = sub.add_parser("data", help="download datasets or show what a dataset spec loads")
    p.add_argument("action", choices=("download", "info"))
    p.add_argument("name", metavar="NAME|SPEC", help="download: cifar10, mnist or svhn; info: a dataset spec "
                   "(FILE.npz, cifar10:DIR, mnist:DIR, svhn:DIR, folder:DIR[?size=HxW])")
    p.add_argument("--out", metavar="DIR", help="download: folder for the files")

    from .service.cli import add_parsers as add_service_parsers  # serve, token, upload, download
    add_service_parsers(sub)
    from .attacks.cli import add_parsers as add_attack_parsers  # attack brute-force|known-plaintext|...
    add_attack_parsers(sub)
    from .experiments.cli import add_parsers as add_experiment_parsers  # experiment NAME (paper tables)
    add_experiment_parsers(sub)
    return ap


def _fail(msg: str, code: int = 2) -> int:
    print(f"ric: error: {msg}", file=sys.stderr)
    return code


def _report(results, classes, as_json: bool, fields=("file", "out", "label", "class")) -> int:
    code = 0
    rows = []
    for r in results:
        if r.error is not None:
            msg = str(r.error)
            print(f"ric: error: {msg if r.src in msg else f'{r.src}: {msg}'}", file=sys.stderr)
            code = code or r.error.exit_code
        row = {"file": r.src, "out": r.out, "label": r.label,
               "class": (classes[r.label] if r.label is not None and r.label < len(classes) else
                         (str(r.label) if r.label is not None else None)),
               "error": None if r.error is None else str(r.error)}
        rows.append({k: row[k] for k in fields} | ({"error": row["error"]} if row["error"] else {}))
    if as_json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            if "error" not in row:
                print("\t".join(str(row[k]) for k in fields if row.get(k) is not None))
    return code


def _overrides(args) -> dict:
    import yaml

    from .training.checkpoint import load_config
    ov = load_config(args.config) if args.config else {}
    for kv in args.set:
        if "=" not in kv:
            raise ValueError(f"--set expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        ov[k] = yaml.safe_load(v)
    return ov


def _parse_hw(s):
    try:
        h, w = (int(v) for v in s.lower().split("x"))
        return h, w
    except ValueError:
        raise ValueError(f"--resize expects HxW, e.g. 32x32, got {s!r}") from None


def run(args) -> int:
    from .errors import RICError
    from .service.cli import handle as handle_service
    if (code := handle_service(args)) is not None:
        return code
    if args.cmd == "keygen":
        from .keys import Key
        Key.generate().save(args.keyfile, force=args.force)
        print(f"wrote a new 256-bit key to {args.keyfile} (mode 600); keep it private and backed up")
        return 0

    if args.cmd == "data":
        from .datasets.cli import run_data
        return run_data(args)
    if args.cmd == "attack":
        from .attacks.cli import run_attack
        return run_attack(args)
    if args.cmd == "experiment":
        from .experiments.cli import run_experiment
        return run_experiment(args)

    import torch
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    from . import hub
    from .files.engine import Engine, classify_files

    if args.cmd == "models":
        from .classifiers import list_classifiers
        from .nets import list_ric_models
        print("shipped RIC models (--model):", ", ".join(hub.shipped_names("ric")) or "none")
        print("shipped classifiers (--classifier):", ", ".join(hub.shipped_names("classifier")) or "none")
        print("RIC architectures:", ", ".join(list_ric_models()))
        print("classifier architectures:", ", ".join(list_classifiers()))
        return 0

    if args.cmd == "info":
        from .io.container import sniff
        code = 0
        for path in args.ciphertexts:
            try:
                scheme, pix, hd = sniff(path)
                meta = hd.public() if hd else {"scheme": "sealed", "height": pix.shape[0], "width": pix.shape[1]}
                print(json.dumps({"file": path, **meta}))
            except RICError as e:
                code = code or _fail(f"{path}: {e}", e.exit_code)
        return code

    device = _device(args)
    if args.cmd == "classify":
        clf = hub.load_classifier(args.classifier or hub.DEFAULT, device)
        return _report(classify_files(clf, args.images, device, args.batch_size), clf.classes, args.json,
                       ("file", "label", "class"))

    if args.cmd in ("encrypt", "decrypt") and _streaming(args):
        return _run_stream(args, device)

    if args.cmd == "encrypt":
        from .keys import Key
        key = Key.load(args.key)
        resize = _parse_hw(args.resize) if args.resize else None
        if args.scheme == "sealed":
            from .files.engine import sealed_encrypt_files
            clf = hub.load_classifier(args.classifier or hub.DEFAULT, device)
            res, st = sealed_encrypt_files(clf, key, args.images, args.out, args.force, resize, args.lossy_fallback,
                                           device, args.batch_size, not args.quiet, args.margin)
            code = _report(res, clf.classes, args.json)
            for r in res:
                if r.info.get("lossy_psnr") is not None:
                    print(f"ric: warning: {r.src} did not fit losslessly; stored as WebP at "
                          f"{r.info['lossy_psnr']:.2f} dB PSNR", file=sys.stderr)
            if not args.quiet:
                print(f"ric: encrypted {sum(r.out is not None for r in res)}/{len(res)} images (sealed); "
                      f"new nonces needed: {st['retries']}", file=sys.stderr)
            return code
        model = hub.load_ric_model(args.model or hub.DEFAULT, device)
        clf = hub.load_classifier(args.classifier or args.model or hub.DEFAULT, device)
        eng = Engine(model, clf, device, phi=_phi_with_margin(model, args.margin), batch_size=args.batch_size,
                     mix=_mix(args.mix), show_progress=not args.quiet)
        res = eng.encrypt_files(key, args.images, args.out, args.force,
                                resize, fast_decrypt=args.fast_decrypt)
        code = _report(res, clf.classes, args.json)
        st = eng.codec_stats
        if not args.quiet:
            print(f"ric: encrypted {sum(r.out is not None for r in res)}/{len(res)} images; new nonces needed: "
                  f"{st['nae_retries']} (Φ missed the margin), {st['label_retries']} (ciphertext label changed)",
                  file=sys.stderr)
        return code

    if args.cmd == "decrypt":
        from .files.stream import Decryptor
        from .keys import Key
        dec = Decryptor(Key.load(args.key), args.out, device, model=args.model, classifier=args.classifier,
                        force=args.force, regenerate=args.regenerate, batch_size=args.batch_size,
                        show_progress=not args.quiet)
        results = dec.run(args.ciphertexts)
        return _report(results, dec.classes, args.json)

    if args.cmd == "evaluate":
        from .evaluate import evaluate
        model = hub.load_ric_model(args.model or hub.DEFAULT, device) if args.scheme == "paper" else None
        clf = hub.load_classifier(args.classifier or args.model or hub.DEFAULT, device)
        res = evaluate(model, clf, args.data, args.n, args.seed, device, args.batch_size, not args.quiet,
                       args.scheme, args.margin, _mix(args.mix))
        if args.json:
            print(json.dumps(res, indent=1))
        else:
            for k, v in res.items():
                print(f"{k:<38} {v:.4f}" if isinstance(v, float) else f"{k:<38} {v}")
        return 0

    if args.cmd == "demo":
        from .demo import run_demo
        return run_demo(args.out, device)

    if args.cmd in ("train", "train-classifier"):
        if args.cmd == "train":
            from .training.ric import DEFAULTS
            from .training.ric import train_ric as fn
        else:
            from .training.classifier import DEFAULTS
            from .training.classifier import train_classifier as fn
        if args.show_defaults:
            import yaml
            print(yaml.safe_dump(DEFAULTS, sort_keys=False), end="")
            return 0
        if not args.out:
            return _fail("--out DIR is required")
        result = fn(args.out, _overrides(args), resume=args.resume, device=device)
        print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
        return 0
    return _fail(f"unknown command {args.cmd}")


def _mix_flag(p) -> None:
    p.add_argument("--mix", choices=("mask", "scramble", "none"), default="mask",  # ric.schemes.paper.mixing.CLI_NAMES
                   help="paper scheme: mask (default, format ric/3) adds a keyed uniform mask to the encoder's "
                        "output so the ciphertext reveals nothing but its label; scramble (format ric/2) only "
                        "permutes and sign-flips it, which leaks per-image statistics such as contrast; none is the "
                        "paper's exact scheme, which leaks the image (docs/results.md, Security)")


def _mix(name: str) -> str:
    from .schemes.paper.mixing import CLI_NAMES
    return CLI_NAMES[name]


def _phi_with_margin(model, margin):
    import dataclasses

    from .files.engine import model_phi
    phi = model_phi(model)
    return phi if margin is None else dataclasses.replace(phi, margin=margin)


def _streaming(args) -> bool:
    from .files.stream import rank_world
    inputs = args.images if args.cmd == "encrypt" else args.ciphertexts
    return args.resume or rank_world()[1] > 1 or any(os.path.isdir(p) for p in inputs)


def _run_stream(args, device) -> int:
    """Folders, --resume and torchrun: results are printed as they finish; nothing is kept per file."""
    from . import hub
    from .files.stream import Decryptor, rank_world, stream_decrypt, stream_encrypt
    from .keys import Key
    if args.window < 1:
        return _fail("--window must be at least 1")
    rank, world = rank_world()
    key = Key.load(args.key)
    show = not args.quiet
    if args.cmd == "encrypt":
        if args.scheme != "paper":
            return _fail("folders, --resume and torchrun are supported for --scheme paper only; pass sealed-scheme "
                         "images as a list of files")
        from .files.engine import Engine
        resize = _parse_hw(args.resize) if args.resize else None
        model = hub.load_ric_model(args.model or hub.DEFAULT, device)
        clf = hub.load_classifier(args.classifier or args.model or hub.DEFAULT, device)
        eng = Engine(model, clf, device, phi=_phi_with_margin(model, args.margin), batch_size=args.batch_size,
                     mix=_mix(args.mix), show_progress=False)
        results = stream_encrypt(eng, key, args.images, args.out, force=args.force, resize=resize,
                                 fast_decrypt=args.fast_decrypt, resume=args.resume, window=args.window,
                                 show_progress=show, rank=rank, world=world)
        classes = clf.classes
    else:
        dec = Decryptor(key, args.out, device, model=args.model, classifier=args.classifier, force=args.force,
                        resume=args.resume, regenerate=args.regenerate, batch_size=args.batch_size)
        results = stream_decrypt(dec, args.ciphertexts, window=args.window, show_progress=show, rank=rank,
                                 world=world)
        classes = None
    code, counts = 0, {"done": 0, "skipped": 0, "failed": 0}
    for r in results:
        cls = classes if classes is not None else dec.classes
        if r.error is not None:
            msg = str(r.error)
            print(f"ric: error: {msg if r.src in msg else f'{r.src}: {msg}'}", file=sys.stderr, flush=True)
            code = code or r.error.exit_code
            counts["failed"] += 1
            continue
        skipped = bool(r.info.get("skipped"))
        counts["skipped" if skipped else "done"] += 1
        name = cls[r.label] if r.label is not None and r.label < len(cls) else r.label
        if args.json:
            print(json.dumps({"file": r.src, "out": r.out, "label": r.label, "class": name, "skipped": skipped}),
                  flush=True)
        elif not skipped:
            print("\t".join(str(v) for v in (r.src, r.out, r.label, name) if v is not None), flush=True)
    if show:
        where = f" (rank {rank} of {world})" if world > 1 else ""
        print(f"ric: {args.cmd}ed {counts['done']}, skipped {counts['skipped']} already complete, "
              f"failed {counts['failed']}{where}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda msg, cat, *a, **k: f"ric: warning: {msg}\n"
    from .errors import RICError
    try:
        return run(args)
    except RICError as e:
        return _fail(str(e), e.exit_code)
    except (FileExistsError, FileNotFoundError, KeyError, ValueError) as e:
        msg = e.args[0] if e.args else str(e)
        return _fail(str(msg), 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except OSError as e:
        return _fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "), 1)


if __name__ == "__main__":
    sys.exit(main())
