"""The client side of `ric serve`: upload ciphertexts, list them by class, download them. No key is sent.

Files are checked locally first (ric.schemes.container.sniff: a file that is not a RIC ciphertext is reported and
not sent). Valid files go up in batches; the server stores a batch all-or-none, so when it refuses one,
that batch's files are resent one at a time and only the refused ones fail. With anonymous names each file
is sent as `<16 random hex>.png` and a local JSON mapping {uploaded name: original path} takes them back.
Downloads keep the original file names (or the mapping's), always end in `.png`, are verified against the
SHA-256 the server recorded and parsed as RIC ciphertexts before anything is written, and never overwrite a
file unless force: a server cannot make the client write a file of another kind or outside the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field

from ..errors import (
    AuthError,
    ContainerError,
    MissingExtraError,
    OutputExistsError,
    RequestRefused,
    RICError,
    ServiceError,
)
from ..io.atomic import write_atomic
from ..schemes.container import sniff
from .uploads import safe_filename

try:
    import httpx
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.client", None, e.name) from None


@dataclass
class Outcome:
    file: str
    id: int | None = None
    label: int | None = None
    cls: str | None = None
    out: str | None = None
    error: RICError | None = None
    extra: dict = field(default_factory=dict)


class Client:
    """One service and token. A 429 (the token's rate limit) is retried after the server's Retry-After, up to
    `retries` times and at most `max_wait` seconds each; `sleep` is injectable for tests."""

    def __init__(self, server: str, token: str, timeout: float = 120.0, retries: int = 5, max_wait: float = 60.0,
                 sleep=None):
        if not server.startswith(("http://", "https://")):
            raise RequestRefused(f"--server must be an http:// or https:// URL, got {server!r}")
        if not token:
            raise AuthError("no upload token given (--token, or $RIC_TOKEN)")
        self.server = server.rstrip("/")
        self.retries, self.max_wait = retries, max_wait
        self._sleep = sleep or time.sleep
        self.http = httpx.Client(base_url=self.server, headers={"Authorization": f"Bearer {token}"},
                                 timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                r = self.http.request(method, path, **kw)
            except httpx.TransportError as e:
                raise ServiceError(f"cannot reach the server at {self.server}: {e or type(e).__name__}") from None
            if r.status_code != 429 or attempt == self.retries:
                break
            wait = r.headers.get("retry-after", "1")
            self._sleep(min(self.max_wait, float(wait) if wait.isascii() and wait.isdigit() else 1.0))
        if r.status_code < 400:
            return r
        try:
            msg = r.json().get("message") or r.text
        except ValueError:
            msg = r.text.strip()[:200] or r.reason_phrase
        if r.status_code == 401:
            raise AuthError(f"the server refused the token: {msg}")
        if r.status_code < 500:
            raise RequestRefused(f"the server refused the request ({r.status_code}): {msg}")
        raise ServiceError(f"the server failed ({r.status_code}): {msg}")

    def health(self) -> dict:
        return self._call("GET", "/healthz").json()

    def upload(self, files: list[tuple[str, bytes]]) -> list[dict]:
        parts = [("files", (name, data, "image/png")) for name, data in files]
        return self._call("POST", "/api/images", files=parts).json()["images"]

    def iter_images(self, label: str | int | None = None, page: int = 500):
        cursor = None
        while True:
            params = {"limit": page}
            if label is not None:
                params["label"] = str(label)
            if cursor:
                params["cursor"] = cursor
            body = self._call("GET", "/api/images", params=params).json()
            yield from body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def content(self, image_id: int) -> bytes:
        return self._call("GET", f"/api/images/{image_id}/content").content

    def delete(self, image_id: int) -> None:
        self._call("DELETE", f"/api/images/{image_id}")


def _read_checked(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise ContainerError(f"{path} is a directory") from None
    except OSError as e:
        raise ContainerError(f"cannot read {path}: {e.strerror}") from None
    try:
        sniff(data)
    except ContainerError as e:
        raise ContainerError(f"{path}: not a RIC ciphertext: {e}") from None
    return data


def anonymous_names(n: int) -> list[str]:
    """n distinct random upload names `<16 hex>.png` (64 random bits each: nothing of the original name)."""
    names: list[str] = []
    while len(names) < n:
        name = secrets.token_hex(8) + ".png"
        if name not in names:
            names.append(name)
    return names


def load_mapping(path: str) -> dict[str, str]:
    """The {uploaded name: original path} mapping in a JSON file ({} when the file does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as e:
        raise RequestRefused(f"cannot read the name mapping {path}: {getattr(e, 'strerror', None) or e}") from None
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in d.items()):
        raise RequestRefused(f"{path} is not a name mapping (a JSON object of uploaded name -> original path)")
    return d


def save_mapping(path: str, add: dict[str, str], remove=()) -> None:
    """Add entries to (and remove names from) the mapping file, atomically; it is private to the user (0600)."""
    d = load_mapping(path)
    d.update(add)
    for name in remove:
        d.pop(name, None)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(d, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        raise RequestRefused(f"cannot write the name mapping {path}: {e.strerror}") from None


def upload_files(client: Client, paths: list[str], batch: int = 16, names: list[str] | None = None) -> list[Outcome]:
    """Upload ciphertext files; one Outcome per path, in order. Auth and connection errors propagate.

    names: the name each file is sent under (e.g. anonymous_names()); default its base name. When given,
    each Outcome's extra["uploaded_as"] is the name sent."""
    results = [Outcome(p) for p in paths]
    sent_as = names if names is not None else [os.path.basename(p) for p in paths]
    if names is not None:
        if len(names) != len(paths):
            raise ValueError("one name per path")
        for r, n in zip(results, names):
            r.extra["uploaded_as"] = n
    ready = []
    for i, p in enumerate(paths):
        try:
            ready.append((i, _read_checked(p)))
        except ContainerError as e:
            results[i].error = e

    def send(chunk):
        recs = client.upload([(sent_as[i], data) for i, data in chunk])
        for (i, _), rec in zip(chunk, recs):
            r = results[i]
            r.id, r.label, r.cls = rec["id"], rec["label"], rec.get("class")

    for s in range(0, len(ready), batch):
        chunk = ready[s:s + batch]
        try:
            send(chunk)
        except RequestRefused as e:
            if len(chunk) == 1:
                results[chunk[0][0]].error = e
                continue
            for one in chunk:  # the batch was stored all-or-none, so none of it is stored: resend singly
                try:
                    send([one])
                except RequestRefused as e1:
                    results[one[0]].error = e1
    return results


def png_name(name: str) -> str:
    """A safe local name for a stored file name: base name only, no leading dots, always ending in `.png`
    (`x.exe` -> `x.png`, `../a` -> `a.png`, `.bashrc` -> `bashrc.png`)."""
    stem, ext = os.path.splitext(safe_filename(name))
    if ext.lower() != ".png":
        stem = stem + ext if not ext[1:].isalpha() else stem   # keep "photo.2024" whole; drop ".exe"
    stem = stem.lstrip(". ") or "upload"
    return stem + ".png"


def download_files(client: Client, out_dir: str, label: str | None = None, force: bool = False,
                   names: dict[str, str] | None = None) -> list[Outcome]:
    """Write every stored ciphertext (of this label) to out_dir under its original file name, made safe by
    png_name (or, for a name in `names` (an upload mapping), the base name of the original path).

    Two stored images with the same name: the later one is written as <stem>~<id>.png. An existing file is
    never replaced unless force; a download whose bytes do not match the recorded SHA-256, or that is not a
    RIC ciphertext, is not written."""
    records = list(client.iter_images(label))
    results, taken = [], set()
    os.makedirs(out_dir, exist_ok=True)
    for rec in records:
        name = png_name(os.path.basename(names[rec["file"]]) if names and rec["file"] in names else rec["file"])
        if name in taken:
            name = f"{name[:-4]}~{rec['id']}.png"
        taken.add(name)
        out = os.path.join(out_dir, name)
        r = Outcome(rec["file"], rec["id"], rec["label"], rec.get("class"))
        results.append(r)
        if os.path.exists(out) and not force:
            r.error = OutputExistsError(f"{out} already exists; refusing to overwrite (use --force)")
            continue
        data = client.content(rec["id"])
        if hashlib.sha256(data).hexdigest() != rec["sha256"]:
            r.error = ServiceError(f"image {rec['id']} ({rec['file']}): the downloaded bytes do not match the "
                                   f"SHA-256 the server recorded; not written")
            continue
        try:
            sniff(data)
        except Exception as e:   # ContainerError, or anything a hostile file makes the parser raise
            r.error = ServiceError(f"image {rec['id']} ({rec['file']}): the downloaded file is not a RIC "
                                   f"ciphertext ({e}); not written")
            continue
        try:
            write_atomic(out, data, force)
            r.out = out
        except OutputExistsError as e:
            r.error = e
    return results
