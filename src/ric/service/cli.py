"""`ric serve`, `ric token`, `ric upload`, `ric download`. ric.cli registers these with add_parsers() and
dispatches with handle(); nothing heavy is imported until a command runs."""
from __future__ import annotations

import json
import os
import socket
import sys

from .settings import Settings, default_db

COMMANDS = ("serve", "token", "upload", "download")


def add_parsers(sub) -> None:
    p = sub.add_parser("serve", help="run the cloud service: store, classify and serve ciphertexts (no key)")
    p.add_argument("--db", default=None, metavar="URL", help="database: a SQLite file path or sqlite:///FILE, or "
                   "postgresql://user:pw@host/db (default: $RIC_DB or sqlite:///ric-store.db)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--classifier", default="cifar10", help="shipped classifier name, .safetensors or TorchScript "
                   "path (default: cifar10)")
    p.add_argument("--cpu", action="store_true", help="run the classifier on the CPU even when a GPU is present")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda:1 (default: cuda if available)")
    p.add_argument("--max-side", type=int, default=Settings.max_side, help="largest image side accepted (pixels)")
    p.add_argument("--max-file-bytes", type=int, default=Settings.max_file_bytes, help="largest file accepted")
    p.add_argument("--max-files", type=int, default=Settings.max_files, help="most files in one upload request")
    p.add_argument("--max-request-bytes", type=int, default=Settings.max_request_bytes,
                   help="largest request body (all files of one upload)")
    p.add_argument("--max-batch", type=int, default=Settings.max_batch, help="most images in one forward pass")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))

    p = sub.add_parser("token", help="manage upload tokens (stored hashed)")
    tsub = p.add_subparsers(dest="token_cmd", required=True, metavar="ACTION")
    t = tsub.add_parser("create", help="print one new upload token on stdout")
    t.add_argument("--db", default=None, metavar="URL", help="database, as for `ric serve`")
    t.add_argument("--name", default="", help="a note stored beside the token's hash")
    t = tsub.add_parser("revoke", help="revoke an upload token")
    t.add_argument("token")
    t.add_argument("--db", default=None, metavar="URL")

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
        else:
            p.add_argument("--label", default=None, help="only this class: a label number or class name")
            p.add_argument("--out", required=True, metavar="DIR", help="folder for the files (created if needed)")
            p.add_argument("--force", action="store_true", help="overwrite existing files")


def handle(args) -> int | None:
    """Run one of this module's commands; None when args.cmd is not one of them."""
    if args.cmd not in COMMANDS:
        return None
    return {"serve": _serve, "token": _token, "upload": _upload, "download": _download}[args.cmd](args)


def _err(msg: str) -> None:
    print(f"ric: error: {msg}", file=sys.stderr)


def _token(args) -> int:
    from .store import open_store
    store = open_store(args.db or default_db())
    try:
        if args.token_cmd == "create":
            print(store.create_token(args.name))
            return 0
        if not store.revoke_token(args.token):
            from .errors import AuthError
            raise AuthError("no such token in this store")
        print("revoked", file=sys.stderr)
        return 0
    finally:
        store.close()


def _listen(host: str, port: int) -> socket.socket:
    from .errors import ServiceError
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

    from ..hub import load_classifier
    from .app import create_app
    from .store import open_store
    device = "cpu" if args.cpu else (args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    settings = Settings(db_url=args.db or default_db(), classifier=args.classifier, device=device,
                        max_side=args.max_side, max_file_bytes=args.max_file_bytes, max_files=args.max_files,
                        max_request_bytes=args.max_request_bytes, max_batch=args.max_batch)
    classifier = load_classifier(settings.classifier, device)
    store = open_store(settings.db_url)
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"ric: serving on http://{shown}:{port} (store: {store.safe_url}; classifier: {classifier.identity}; "
          f"device: {device})", file=sys.stderr, flush=True)
    app = create_app(settings, store, classifier)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=args.log_level in ("info",
                                                                                                       "debug")))
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
    return 0


def _client(args):
    from ..client import Client
    from .errors import RequestRefused
    if not args.server:
        raise RequestRefused("--server URL is required (or set $RIC_SERVER)")
    return Client(args.server, args.token or "")


def _finish(results, as_json: bool, fields) -> int:
    code = 0
    rows = []
    for r in results:
        row = {"file": r.file, "id": r.id, "label": r.label, "out": r.out, "class": r.cls}
        row = {k: row[k] for k in fields}
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
                print("\t".join(str(v) for v in (r.file, r.id, r.label, r.cls, r.out) if v is not None))
    return code


def _upload(args) -> int:
    from ..client import upload_files
    with _client(args) as c:
        res = upload_files(c, args.files, max(1, args.batch))
    return _finish(res, args.json, ("file", "id", "label"))


def _download(args) -> int:
    from ..client import download_files
    with _client(args) as c:
        res = download_files(c, args.out, args.label, args.force)
    code = _finish(res, args.json, ("file", "id", "label", "out"))
    print(f"ric: downloaded {sum(r.out is not None for r in res)}/{len(res)} images to {args.out}", file=sys.stderr)
    return code
