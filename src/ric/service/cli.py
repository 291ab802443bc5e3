"""`ric serve`, `ric token`, `ric upload`, `ric download`. ric.cli registers these with add_parsers() and
dispatches with handle(); nothing heavy is imported until a command runs, and a command whose part of the
`service` extra is not installed stops with one line naming the extra (MissingExtraError)."""
from __future__ import annotations

import json
import os
import socket
import sys

from ..cli.options import check_device
from .settings import Settings, default_db

COMMANDS = ("serve", "token", "upload", "download", "cleanup")

# the modules of the `service` extra each command imports (python-multipart: FastAPI's form parser)
NEEDS = {"serve": ("fastapi", "uvicorn", "python_multipart", "sqlalchemy"), "token": ("sqlalchemy",),
         "cleanup": ("sqlalchemy",), "upload": ("httpx",), "download": ("httpx",)}


def add_parsers(sub) -> None:
    """Register `ric serve`, `ric token`, `ric upload` and `ric download` on ric's subparsers."""
    _add_serve_parser(sub)
    _add_token_parser(sub)
    _add_cleanup_parser(sub)
    _add_client_parsers(sub)


def _add_serve_parser(sub) -> None:
    """Register `ric serve` and its options (the service's limits default to Settings')."""
    p = sub.add_parser("serve", help="run the cloud service: store, classify and serve ciphertexts (no key)")
    p.add_argument("--db", default=None, metavar="URL", help="database: a SQLite file path or sqlite:///FILE, or "
                   "postgresql://user:pw@host/db (default: $RIC_DB or sqlite:///ric-store.db)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--classifier", default="cifar10", help="shipped classifier name, .safetensors or TorchScript "
                   "path (default: cifar10)")
    p.add_argument("--cpu", action="store_true", help="run the classifier on the CPU even when a GPU is present")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda:1 (default: cuda if available)")
    p.add_argument("--max-side", type=int, default=Settings.max_side,
                   help="largest image side accepted, in pixels (default %(default)s)")
    p.add_argument("--max-file-bytes", type=int, default=Settings.max_file_bytes,
                   help="largest file accepted, in bytes (default %(default)s)")
    p.add_argument("--max-files", type=int, default=Settings.max_files,
                   help="most files in one upload request (default %(default)s)")
    p.add_argument("--max-request-bytes", type=int, default=Settings.max_request_bytes,
                   help="largest request body, all files of one upload, in bytes (default %(default)s)")
    p.add_argument("--max-batch", type=int, default=Settings.max_batch,
                   help="most images in one forward pass (default %(default)s)")
    p.add_argument("--max-batch-pixels", type=int, default=Settings.max_batch_pixels,
                   help="most pixels (images x height x width) in one forward pass, which bounds its memory "
                        f"(default {Settings.max_batch_pixels}: 2 images of 1024x1024); at least --max-side squared")
    p.add_argument("--rate-limit", type=float, default=Settings.rate_limit, metavar="R",
                   help=f"requests per second each token may make (default {Settings.rate_limit:g}; 0: no limit); "
                        "beyond it: 429 with Retry-After")
    p.add_argument("--rate-burst", type=int, default=Settings.rate_burst, metavar="B",
                   help=f"requests a token may make at once before the rate applies (default {Settings.rate_burst})")
    p.add_argument("--shared-limits", action="store_true",
                   help="keep the rate limit's buckets in the database, so that several `ric serve` processes on "
                        "one database grant each token --rate-limit in all (quotas are always in the database)")
    _blobs_arg(p)
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level (default %(default)s; info and debug also log every request)")


def _blobs_arg(p) -> None:
    p.add_argument("--blobs", default=os.environ.get("RIC_BLOBS"), metavar="s3://BUCKET/PREFIX",
                   help="keep the ciphertexts' bytes as objects here, their records in the database (the s3 extra; "
                        "endpoint and credentials from the AWS variables; default: $RIC_BLOBS, else in the "
                        "database)")


def _add_cleanup_parser(sub) -> None:
    p = sub.add_parser("cleanup", help="delete stored objects that no record names (left by a killed upload or "
                                       "delete); run it now and then, from any one machine")
    p.add_argument("--db", default=None, metavar="URL", help="database, as for `ric serve`")
    _blobs_arg(p)
    p.add_argument("--grace", type=float, default=3600.0, metavar="SECONDS",
                   help="only objects older than this (default 3600): an upload in progress writes its objects "
                        "before its records")


def _add_token_parser(sub) -> None:
    """Register `ric token` with its actions create, list, set-quota and revoke."""
    p = sub.add_parser("token", help="manage upload tokens (stored hashed)")
    tsub = p.add_subparsers(dest="token_cmd", required=True, metavar="ACTION")
    t = tsub.add_parser("create", help="print one new upload token on stdout")
    t.add_argument("--db", default=None, metavar="URL", help="database, as for `ric serve`")
    t.add_argument("--name", default="", help="a note stored beside the token's hash")
    t.add_argument("--admin", action="store_true", help="an admin token: sees, downloads and deletes every "
                   "token's images (a plain token sees only its own)")
    _quota_args(t, "no limit")
    t = tsub.add_parser("list", help="list the tokens: id, prefix, name, role, state, quota and usage (never the "
                                     "tokens)")
    t.add_argument("--db", default=None, metavar="URL")
    t.add_argument("--json", action="store_true", help="print a JSON list")
    t = tsub.add_parser("set-quota", help="change a token's upload quota (images it already holds are kept)")
    t.add_argument("token", metavar="ID|NAME|PREFIX|TOKEN", help="the token's id, name or prefix (from `ric token "
                   "list`), or the token itself; a name or prefix several tokens share is refused (exit 2)")
    t.add_argument("--db", default=None, metavar="URL")
    _quota_args(t, "unchanged")
    t = tsub.add_parser("revoke", help="revoke an upload token, e.g. a leaked one")
    t.add_argument("token", metavar="ID|NAME|PREFIX|TOKEN", help="the token's id, name or prefix (from `ric token "
                   "list`), or the token itself; a name or prefix several tokens share is refused (exit 2)")
    t.add_argument("--db", default=None, metavar="URL")


def _add_client_parsers(sub) -> None:
    """Register the client commands `ric upload` and `ric download` (a --server and a --token each)."""
    for name, help_ in (("upload", "upload ciphertexts to a `ric serve` service; prints file, id, label"),
                        ("download", "download stored ciphertexts (optionally one class) under their file names")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--server", default=os.environ.get("RIC_SERVER"), metavar="URL",
                       help="the service, e.g. http://127.0.0.1:8000 (default: $RIC_SERVER)")
        p.add_argument("--token", default=os.environ.get("RIC_TOKEN"), help="upload token (default: $RIC_TOKEN)")
        p.add_argument("--json", action="store_true", help="print a JSON list"
                       + (" of {file, id, label}" if name == "upload" else " of {file, id, label, out}"))
        if name == "upload":
            p.add_argument("files", nargs="+", metavar="FILE")
            p.add_argument("--batch", type=int, default=16, help="files per request (default 16)")
            p.add_argument("--anonymous-names", action="store_true",
                           help="send each file under a random name (file names of photos leak); the output "
                                "then has the name each was uploaded as (uploaded_as)")
            p.add_argument("--mapping", metavar="FILE", help="keep {uploaded name: original path} in this JSON "
                           "file (added to when it exists); `ric download --mapping FILE` restores the names")
        else:
            p.add_argument("--label", default=None, help="only this class: a label number or class name")
            p.add_argument("--out", required=True, metavar="DIR", help="folder for the files (created if needed)")
            p.add_argument("--force", action="store_true", help="overwrite existing files")
            p.add_argument("--mapping", metavar="FILE", help="a mapping written by `ric upload --mapping`: files "
                           "uploaded under random names are written under their original names")


def quota_value(text: str) -> int | None:
    """A quota from the command line: a whole number (bytes may end in K, M or G: powers of 1024), or `none`."""
    import argparse
    t = text.strip().lower()
    if t in ("none", "unlimited"):
        return None
    mult = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}.get(t[-1:], 1)
    digits = t[:-1] if mult > 1 else t
    if not digits.isascii() or not digits.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number (K, M or G allowed for bytes) or none, got {text!r}")
    return int(digits) * mult


def _quota_args(t, default: str) -> None:
    t.add_argument("--max-images", type=quota_value, default=_KEEP, metavar="N|none",
                   help=f"most images the token may hold (default: {default})")
    t.add_argument("--max-bytes", type=quota_value, default=_KEEP, metavar="B|none",
                   help=f"most bytes its images may take, e.g. 500M (default: {default})")


_KEEP = object()   # "not given" (argparse would run a string default through the type)


def handle(args) -> int | None:
    """Run one of this module's commands; None when args.cmd is not one of them."""
    if args.cmd not in COMMANDS:
        return None
    from ..errors import require_extra
    require_extra(f"ric {args.cmd}", None, *NEEDS[args.cmd])   # core dependencies: a partial install
    return {"serve": _serve, "token": _token, "upload": _upload, "download": _download,
            "cleanup": _cleanup}[args.cmd](args)


def _err(msg: str) -> None:
    print(f"ric: error: {msg}", file=sys.stderr)


def _migration_notice(store) -> None:
    if store.migrated:
        print(f"ric: upgraded the database schema ({', '.join(store.migrated)}); images stored before this "
              f"version have no owner and are visible to admin tokens only (ric token create --admin)",
              file=sys.stderr, flush=True)


def _cleanup(args) -> int:
    from ..errors import StoreError
    from .store import open_store
    if not args.blobs:
        raise StoreError("give --blobs s3://BUCKET/PREFIX (or set RIC_BLOBS): the objects to check")
    store = open_store(args.db or default_db(), args.blobs)
    try:
        got = store.cleanup(args.grace)
    finally:
        store.close()
    print(f"ric: checked {got['checked']} objects older than {args.grace:g} s, removed {got['removed']} that no "
          "record names", file=sys.stderr)
    return 0


def _token(args) -> int:
    from ..errors import RequestRefused
    from .store import open_store
    store = open_store(args.db or default_db())
    try:
        _migration_notice(store)
        return _token_action(args, store)
    except ValueError as e:          # a quota the store refuses (e.g. beyond 2^62)
        raise RequestRefused(str(e)) from None
    finally:
        store.close()


def _token_action(args, store) -> int:
    from ..errors import RequestRefused
    if args.token_cmd == "create":
        quota = {k: v for k, v in (("max_images", args.max_images), ("max_bytes", args.max_bytes)) if v is not _KEEP}
        print(store.create_token(args.name, admin=args.admin, **quota))
        return 0
    if args.token_cmd == "list":
        rows = store.list_tokens()
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            def of(used, limit):
                return f"{used}/{'-' if limit is None else limit}"
            print("id\tprefix\trole\tstate\timages\tbytes\tcreated\tname")
            for r in rows:
                print("\t".join((str(r["id"]), r["prefix"] or "-", "admin" if r["admin"] else "upload",
                                 "revoked" if r["revoked"] else "active", of(r["images"], r["max_images"]),
                                 of(r["bytes"], r["max_bytes"]), r["created_at"], r["name"])))
        return 0
    if args.token_cmd == "set-quota":
        quota = {k: v for k, v in (("max_images", args.max_images), ("max_bytes", args.max_bytes)) if v is not _KEEP}
        if not quota:
            raise RequestRefused("give --max-images and/or --max-bytes (a number, or none for no limit)")
        rec = _one_token(store.set_quota, args.token, **quota)
        shown = ", ".join(f"{k.replace('_', ' ')} {'no limit' if rec[k] is None else rec[k]}"
                          for k in ("max_images", "max_bytes"))
        print(f"ric: token {rec['id']}: {shown} (a running server applies it to the next request)",
              file=sys.stderr)
        return 0
    rec = _one_token(store.revoke_token, args.token)
    note = ", ".join(x for x in (rec["prefix"], rec["name"]) if x)
    print(f"ric: revoked token {rec['id']}" + (f" ({note})" if note else ""), file=sys.stderr)
    return 0


def _one_token(action, ref: str, **kw) -> dict:
    """action(ref, **kw) on the one token `ref` names: none is AuthError (exit 21), several a RICError (exit 2)."""
    from ..errors import AuthError, RICError
    from .store import AmbiguousToken
    try:
        return action(ref, **kw)
    except AmbiguousToken as e:
        raise RICError(str(e)) from None
    except LookupError as e:
        raise AuthError(str(e)) from None


def _listen(host: str, port: int) -> socket.socket:
    from ..errors import ServiceError
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        raise ServiceError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def _serve(args) -> int:
    import torch
    import uvicorn

    from ..errors import ServiceError
    from ..hub import load_classifier
    from .app import create_app
    from .store import open_store
    device = "cpu" if args.cpu else (check_device(args.device) if args.device else (
        "cuda" if torch.cuda.is_available() else "cpu"))
    settings = Settings(db_url=args.db or default_db(), classifier=args.classifier, device=device,
                        max_side=args.max_side, max_file_bytes=args.max_file_bytes, max_files=args.max_files,
                        max_request_bytes=args.max_request_bytes, max_batch=args.max_batch,
                        max_batch_pixels=args.max_batch_pixels, rate_limit=args.rate_limit,
                        rate_burst=args.rate_burst, shared_limits=args.shared_limits)
    try:
        settings.check()
    except ValueError as e:
        raise ServiceError(str(e)) from None
    classifier = load_classifier(settings.classifier, device)
    store = open_store(settings.db_url, args.blobs)
    _migration_notice(store)
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    blobs = f", bytes in {store.blobs.url}" if store.blobs else ""
    print(f"ric: serving on http://{shown}:{port} (store: {store.safe_url}{blobs}; classifier: {classifier.identity}; "
          f"device: {device})", file=sys.stderr, flush=True)
    app = create_app(settings, store, classifier)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level,
                                           access_log=args.log_level in ("info", "debug"),
                                           server_header=False))   # no "server: uvicorn" on every answer
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
    return 0


def _client(args):
    from ..errors import RequestRefused
    from .client import Client
    if not args.server:
        raise RequestRefused("--server URL is required (or set $RIC_SERVER)")
    return Client(args.server, args.token or "")


def _finish(results, as_json: bool, fields) -> int:
    code = 0
    rows = []
    for r in results:
        row = {"file": r.file, "id": r.id, "label": r.label, "out": r.out, "class": r.cls, **r.extra}
        row = {k: row[k] for k in fields if k in row}
        if r.error is not None:
            _err(str(r.error))
            code = code or r.error.exit_code
            row["error"] = str(r.error)
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=1))
    else:
        for r in results:
            if r.error is None:
                print("\t".join(str(v) for v in (r.file, r.id, r.label, r.cls, r.out, r.extra.get("uploaded_as"))
                                if v is not None))
    return code


def _upload(args) -> int:
    from ..errors import RequestRefused
    from .client import anonymous_names, save_mapping, upload_files
    if args.mapping and not args.anonymous_names:
        raise RequestRefused("--mapping records the random names of --anonymous-names; add --anonymous-names")
    names = anonymous_names(len(args.files)) if args.anonymous_names else None
    if args.mapping:   # written before anything is sent, so a failure part-way loses no name
        save_mapping(args.mapping, dict(zip(names, args.files)))
    with _client(args) as c:
        res = upload_files(c, args.files, max(1, args.batch), names=names)
    if args.mapping:   # and the names of files that were not stored are taken out again
        save_mapping(args.mapping, {}, remove=[n for n, r in zip(names, res) if r.id is None])
    return _finish(res, args.json, ("file", "id", "label", "uploaded_as"))


def _download(args) -> int:
    from .client import download_files, load_mapping
    names = load_mapping(args.mapping) if args.mapping else None
    with _client(args) as c:
        res = download_files(c, args.out, args.label, args.force, names=names)
    code = _finish(res, args.json, ("file", "id", "label", "out"))
    print(f"ric: downloaded {sum(r.out is not None for r in res)}/{len(res)} images to {args.out}", file=sys.stderr)
    return code
