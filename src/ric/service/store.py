"""The encrypted-image store: two tables behind SQLAlchemy (SQLite file by default, PostgreSQL by URL).

`ric_images` holds each ciphertext's bytes, its original file name, the label the service's classifier
gave it, its public metadata and its owner (the id of the token that uploaded it); `ric_tokens` holds
SHA-256 hashes of upload tokens, a short display prefix of each (the first characters, enough to tell
tokens apart, far too few to use one), whether it is an admin token, whether it was revoked and its upload
quota (max_images, max_bytes; NULL: no limit, enforced in add_images in the inserting transaction). A token
sees its own images only; an admin token sees all. Listing is ordered by id and paginated by "id greater
than the cursor", so a page is stable while uploads go on.

Schema changes are applied when a store is opened (`_migrate`): columns added since a database was created
are added with ALTER TABLE (nullable, or with a default) and missing indexes created; `Store.migrated` lists
what was done. Images stored by the version before owners existed have no owner: admin tokens see them.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import threading
from dataclasses import dataclass

from ..errors import MissingExtraError, StoreError
from .settings import normalize_db_url
from .tokens import PREFIX, display_prefix, hash_token, new_token

try:
    from sqlalchemy import (
        BigInteger,
        Boolean,
        DateTime,
        Float,
        Index,
        Integer,
        LargeBinary,
        String,
        Text,
        create_engine,
        delete,
        event,
        false,
        func,
        inspect,
        select,
        text,
        update,
    )
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError, SQLAlchemyError
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, deferred, mapped_column
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.store", None, e.name) from None


class Base(DeclarativeBase):
    pass


class ImageRow(Base):
    __tablename__ = "ric_images"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(255))
    label: Mapped[int] = mapped_column(Integer)
    scheme: Mapped[str] = mapped_column(String(16))
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    classifier: Mapped[str] = mapped_column(String(200))
    meta: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    owner: Mapped[int | None] = mapped_column(Integer, nullable=True)   # ric_tokens.id; NULL: admin only
    blob: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the object holding the bytes (blobs.py)
    __table_args__ = (Index("ix_ric_images_label_id", "label", "id"), Index("ix_ric_images_owner_id", "owner", "id"),
                      Index("ix_ric_images_blob", "blob"))


class TokenRow(Base):
    __tablename__ = "ric_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    prefix: Mapped[str | None] = mapped_column(String(16), nullable=True)   # display only; NULL for old tokens
    max_images: Mapped[int | None] = mapped_column(Integer, nullable=True)  # upload quota; NULL: no limit
    max_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RateRow(Base):
    """A token's request bucket when the rate limit is kept in the database (`ric serve --shared-limits`): the
    requests it may still make at once and when that was computed (wall-clock seconds, shared by every server)."""
    __tablename__ = "ric_rates"
    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class Principal:
    """Who a valid token is: its id (the owner of what it uploads), whether it is an admin token, and its
    upload quota (None: no limit)."""
    id: int
    admin: bool = False
    max_images: int | None = None
    max_bytes: int | None = None

    @property
    def has_quota(self) -> bool:
        return self.max_images is not None or self.max_bytes is not None

    @property
    def owner(self) -> int | None:
        """The owner filter for queries: None (everything) for an admin token, else the token's id."""
        return None if self.admin else self.id


class QuotaExceeded(Exception):
    """An upload that would take a token over its quota; nothing of it was stored."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


_UNSET = object()


def quota_problem(who: Principal, used_images: int, used_bytes: int, add_images: int, add_bytes: int) -> str | None:
    """Why storing add_images more images of add_bytes bytes would exceed the token's quota, or None."""
    if who.max_images is not None and used_images + add_images > who.max_images:
        return (f"this token may store {who.max_images} images and holds {used_images}; {add_images} more would "
                f"exceed its quota (delete some, or ask for a larger quota)")
    if who.max_bytes is not None and used_bytes + add_bytes > who.max_bytes:
        return (f"this token may store {who.max_bytes} bytes and holds {used_bytes}; {add_bytes} more would exceed "
                f"its quota (delete some, or ask for a larger quota)")
    return None


@dataclass
class NewImage:
    filename: str
    label: int
    scheme: str
    height: int
    width: int
    sha256: str
    classifier: str
    meta: dict
    data: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _public(row: ImageRow) -> dict:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.timezone.utc)
    return {"id": row.id, "file": row.filename, "label": row.label, "scheme": row.scheme, "height": row.height,
            "width": row.width, "size": row.size, "sha256": row.sha256, "classifier": row.classifier,
            "meta": json.loads(row.meta), "created_at": created.isoformat()}


class AmbiguousToken(LookupError):
    """A token reference (a name or a prefix) that matches several tokens."""


class Store:
    """`blobs`: where the ciphertexts' bytes go (ric.service.blobs.S3Blobs); None: in their rows."""

    def __init__(self, url: str, blobs=None):
        self.url, self.blobs = normalize_db_url(url), blobs
        try:
            if self.url.startswith("sqlite"):
                self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=8, max_overflow=8)
            Base.metadata.create_all(self.engine)
            self.migrated = _migrate(self.engine)
        except NoSuchModuleError:
            raise StoreError(f"no database driver for {self.url.split('://')[0]!r}") from None
        except ModuleNotFoundError as e:
            hint = ' (pip install "ric[postgres]")' if "psycopg" in str(e) else ""
            raise StoreError(f"the database driver is not installed: {e.name}{hint}") from None
        except ArgumentError:
            raise StoreError(f"malformed database URL {url!r}") from None
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open the database {self.safe_url}: {_first_line(e)}") from None
        # the largest id the id column holds: 64-bit on SQLite, 32-bit (SERIAL) on PostgreSQL. An id the API
        # accepts (1 .. 2^63-1) but the column cannot hold names no row: answered without a query, which
        # PostgreSQL would refuse ("integer out of range")
        self.max_id = 2 ** 31 - 1 if self.engine.dialect.name == "postgresql" else 2 ** 63 - 1
        # SQLite allows one writer at a time; serialising writes here avoids "database is locked" under load
        self._write_lock = threading.Lock() if self.url.startswith("sqlite") else _NoLock()

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True) if hasattr(self, "engine") else self.url

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    # -- tokens -------------------------------------------------------------------------------------
    def create_token(self, name: str = "", admin: bool = False, max_images: int | None = None,
                     max_bytes: int | None = None) -> str:
        """A new token (returned once; only its hash is kept), with an upload quota when max_images or
        max_bytes is given (None: no limit)."""
        _check_quota_values(max_images, max_bytes)
        token = new_token()
        with self._write_lock, Session(self.engine) as s, s.begin():
            s.add(TokenRow(token_hash=hash_token(token), name=name[:100], created_at=_now(), revoked=False,
                           admin=bool(admin), prefix=display_prefix(token), max_images=max_images,
                           max_bytes=max_bytes))
        return token

    def check_token(self, token: str) -> Principal | None:
        """The principal of a valid (known, not revoked) token, else None."""
        with Session(self.engine) as s:
            row = s.execute(select(TokenRow.id, TokenRow.admin, TokenRow.revoked, TokenRow.max_images,
                                   TokenRow.max_bytes).where(TokenRow.token_hash == hash_token(token))).first()
        if row is None or row.revoked:
            return None
        return Principal(int(row.id), bool(row.admin), row.max_images, row.max_bytes)

    def list_tokens(self) -> list[dict]:
        """Every token's public record with its quota and usage (images and bytes it holds)."""
        with Session(self.engine) as s:
            rows = list(s.scalars(select(TokenRow).order_by(TokenRow.id)))
            used = {int(o): (int(n), int(b)) for o, n, b in s.execute(
                select(ImageRow.owner, func.count(ImageRow.id), func.coalesce(func.sum(ImageRow.size), 0))
                .where(ImageRow.owner.is_not(None)).group_by(ImageRow.owner))}
            return [{**_token_public(r), "images": used.get(r.id, (0, 0))[0], "bytes": used.get(r.id, (0, 0))[1]}
                    for r in rows]

    def set_quota(self, ref: str, max_images=_UNSET, max_bytes=_UNSET) -> dict:
        """Change the quota of the token `ref` names (see find_token): an int, or None for no limit; a value
        not given stays as it was. Images already stored are kept even when over the new quota (only further
        uploads are refused). Returns the token's record."""
        _check_quota_values(None if max_images is _UNSET else max_images, None if max_bytes is _UNSET else max_bytes)
        rec = self.find_token(ref)
        with self._write_lock, Session(self.engine) as s, s.begin():
            row = s.get(TokenRow, rec["id"])
            if max_images is not _UNSET:
                row.max_images = max_images
            if max_bytes is not _UNSET:
                row.max_bytes = max_bytes
            s.flush()
            return _token_public(row)

    def usage(self, owner: int) -> tuple[int, int]:
        """(images, bytes) the token `owner` holds."""
        with Session(self.engine) as s:
            n, b = s.execute(select(func.count(ImageRow.id), func.coalesce(func.sum(ImageRow.size), 0))
                             .where(ImageRow.owner == owner)).one()
            return int(n), int(b)

    def find_token(self, ref: str) -> dict:
        """The one token `ref` names: its id (`3` or `#3`), the token itself, a prefix of it (as `ric token list`
        shows), or its name (`ric token create --name`). Raises AmbiguousToken (a LookupError) naming the ids
        when several match, LookupError naming the problem when none does."""
        ref = ref.strip()
        with Session(self.engine) as s:
            if ref.lstrip("#").isdigit():
                row = s.get(TokenRow, int(ref.lstrip("#")))
                if row is None:
                    raise LookupError(f"no token with id {ref.lstrip('#')} in this store")
                return _token_public(row)
            row = s.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(ref)))
            if row is not None:
                return _token_public(row)
            rows = []
            if ref.startswith(PREFIX):   # a prefix of the stored display prefix (a whole token not stored: none)
                rows = [r for r in s.scalars(select(TokenRow).where(TokenRow.prefix.is_not(None)))
                        if r.prefix.startswith(ref)]
            if not rows and ref:
                rows = list(s.scalars(select(TokenRow).where(TokenRow.name == ref).order_by(TokenRow.id)))
            if not rows:
                raise LookupError(f"no token matches {ref!r} in this store (give a token id, name or prefix from "
                                  f"`ric token list`, or the token)")
            if len(rows) > 1:
                raise AmbiguousToken(f"{ref!r} matches {len(rows)} tokens (ids {', '.join(str(r.id) for r in rows)}); "
                                     f"give the token id")
            return _token_public(rows[0])

    def revoke_token(self, ref: str) -> dict:
        """Revoke the token `ref` names (see find_token) and return its record; LookupError when none or
        several match. Revoking a revoked token is not an error."""
        rec = self.find_token(ref)
        with self._write_lock, Session(self.engine) as s, s.begin():
            s.get(TokenRow, rec["id"]).revoked = True
        return {**rec, "revoked": True}

    # -- shared rate limits -------------------------------------------------------------------------
    def take_rate(self, key: int, rate: float, burst: int, now: float) -> int:
        """Spend one request of token `key`'s bucket (`burst` requests, refilled at `rate` per second; `now`:
        wall-clock seconds): 0, or when it is empty the whole seconds to wait (nothing spent). One transaction
        that locks the token's row (PostgreSQL: SELECT ... FOR UPDATE; SQLite: its single writer), so every
        server process sharing the database spends from the same bucket."""
        ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(RateRow)
        with self._write_lock, Session(self.engine) as s, s.begin():
            s.execute(ins.values(token_id=key, tokens=float(burst), at=now).on_conflict_do_nothing())
            row = s.execute(select(RateRow).where(RateRow.token_id == key).with_for_update()).scalar_one()
            tokens = min(float(burst), row.tokens + max(0.0, now - row.at) * rate)
            row.at = max(now, row.at)
            if tokens >= 1.0:
                row.tokens = tokens - 1.0
                return 0
            row.tokens = tokens
            return max(1, math.ceil((1.0 - tokens) / rate))

    # -- images -------------------------------------------------------------------------------------
    # `owner`: None means every image (an admin), else only the images of that token id.
    def add_images(self, images: list[NewImage], owner: int | None = None,
                   quota: Principal | None = None) -> list[dict]:
        """Store all images in one transaction (all or none) and return their public records.

        quota: the uploading token, when it has a quota; the usage is read and the images added in one
        transaction that first writes the token's row, so concurrent uploads of one token (from any number of
        server processes) are serialised and cannot together exceed it. Raises QuotaExceeded, storing nothing."""
        keys = [self.blobs.put(im.data) for im in images] if self.blobs else [None] * len(images)
        rows = [ImageRow(filename=im.filename, label=im.label, scheme=im.scheme, height=im.height, width=im.width,
                         size=len(im.data), sha256=im.sha256, classifier=im.classifier,
                         meta=json.dumps(im.meta, sort_keys=True), created_at=_now(),
                         data=b"" if k else im.data, blob=k, owner=owner)
                for im, k in zip(images, keys)]
        try:
            self._insert(rows, quota)
        except BaseException:
            self._forget([k for k in keys if k])     # a killed process leaves them to `cleanup`
            raise
        return [_public(r) for r in rows]

    def _forget(self, keys: list[str]) -> None:
        """Delete objects no row names (best effort: what is left is removed by `cleanup`)."""
        for k in keys:
            try:
                self.blobs.delete(k)
            except Exception:     # noqa: BLE001, S112 — the caller's error is the one to report
                continue

    def _insert(self, rows: list[ImageRow], quota: Principal | None) -> None:
        with self._write_lock, Session(self.engine, expire_on_commit=False) as s, s.begin():
            if quota is not None and quota.has_quota:
                # a no-op write: takes the row lock (PostgreSQL) or the write lock (SQLite) before the usage is read
                s.execute(update(TokenRow).where(TokenRow.id == quota.id).values(id=TokenRow.id))
                n, b = s.execute(select(func.count(ImageRow.id), func.coalesce(func.sum(ImageRow.size), 0))
                                 .where(ImageRow.owner == quota.id)).one()
                why = quota_problem(quota, int(n), int(b), len(rows), sum(r.size for r in rows))
                if why is not None:
                    raise QuotaExceeded(why)
            s.add_all(rows)
            s.flush()

    @staticmethod
    def _owned(q, owner: int | None):
        return q if owner is None else q.where(ImageRow.owner == owner)

    def list_images(self, label: int | None = None, after: int = 0, limit: int = 100,
                    owner: int | None = None) -> tuple[list[dict], int | None]:
        """Up to `limit` records with id > after (and this label), and the cursor for the next page or None."""
        after = min(after, self.max_id)     # past the largest id the column holds: the same empty page
        q = self._owned(select(ImageRow).where(ImageRow.id > after), owner).order_by(ImageRow.id).limit(limit + 1)
        if label is not None:
            q = q.where(ImageRow.label == label)
        with Session(self.engine) as s:
            rows = list(s.scalars(q))
        more = len(rows) > limit
        rows = rows[:limit]
        return [_public(r) for r in rows], (rows[-1].id if more else None)

    def get_image(self, image_id: int, owner: int | None = None) -> dict | None:
        if not 0 < image_id <= self.max_id:
            return None
        with Session(self.engine) as s:
            row = s.scalar(self._owned(select(ImageRow).where(ImageRow.id == image_id), owner))
            return None if row is None else _public(row)

    def get_data(self, image_id: int, owner: int | None = None) -> tuple[str, bytes] | None:
        if not 0 < image_id <= self.max_id:
            return None
        got = self.get_content(image_id, owner)
        return None if got is None else (got[0], got[2])

    def get_content(self, image_id: int, owner: int | None = None) -> tuple[str, str, bytes] | None:
        """(file name, SHA-256, bytes) of a stored image, or None."""
        if not 0 < image_id <= self.max_id:
            return None
        with Session(self.engine) as s:
            row = s.execute(self._owned(select(ImageRow.filename, ImageRow.sha256, ImageRow.data, ImageRow.blob)
                                        .where(ImageRow.id == image_id), owner)).first()
        if row is None:
            return None
        if row[3] and self.blobs is None:
            raise StoreError(f"image {image_id}'s bytes are in object storage: start the service with --blobs")
        return row[0], row[1], self.blobs.get(row[3]) if row[3] else row[2]

    def get_digest(self, image_id: int, owner: int | None = None) -> str | None:
        """The SHA-256 of a stored image's bytes (its ETag), without reading them; None if not there."""
        if not 0 < image_id <= self.max_id:
            return None
        with Session(self.engine) as s:
            return s.scalar(self._owned(select(ImageRow.sha256).where(ImageRow.id == image_id), owner))

    def delete_image(self, image_id: int, owner: int | None = None) -> bool:
        if not 0 < image_id <= self.max_id:
            return False
        with self._write_lock, Session(self.engine) as s, s.begin():
            q = delete(ImageRow).where(ImageRow.id == image_id)
            if owner is not None:
                q = q.where(ImageRow.owner == owner)
            gone = s.execute(q.returning(ImageRow.blob)).all()
        for (key,) in gone:         # after the commit: a crash here leaves an object without a row, for `cleanup`
            if key:
                self._forget([key])
        return bool(gone)

    def cleanup(self, grace: float = 3600.0) -> dict:
        """Delete the objects that no row names and that were written more than `grace` seconds ago (an upload in
        progress has written its objects and not yet committed its rows; `grace` must exceed the longest upload).
        Returns {"checked": objects looked at, "removed": objects deleted}."""
        if self.blobs is None:
            return {"checked": 0, "removed": 0}
        checked = removed = 0
        for keys in self.blobs.older_than(_now() - dt.timedelta(seconds=grace)):
            checked += len(keys)
            with Session(self.engine) as s:
                named = set(s.scalars(select(ImageRow.blob).where(ImageRow.blob.in_(keys)))) if keys else set()
            orphans = [k for k in keys if k not in named]
            self._forget(orphans)
            removed += len(orphans)
        return {"checked": checked, "removed": removed}

    def count(self, label: int | None = None, owner: int | None = None) -> int:
        q = self._owned(select(func.count(ImageRow.id)), owner)
        if label is not None:
            q = q.where(ImageRow.label == label)
        with Session(self.engine) as s:
            return int(s.scalar(q))

    def label_counts(self, owner: int | None = None) -> dict[int, int]:
        with Session(self.engine) as s:
            rows = s.execute(self._owned(select(ImageRow.label, func.count(ImageRow.id)), owner)
                             .group_by(ImageRow.label))
            return {int(lab): int(n) for lab, n in rows}


def _token_public(row: TokenRow) -> dict:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.timezone.utc)
    return {"id": row.id, "prefix": row.prefix, "name": row.name, "admin": bool(row.admin),
            "revoked": bool(row.revoked), "created_at": created.isoformat(timespec="seconds"),
            "max_images": row.max_images, "max_bytes": row.max_bytes}


def _check_quota_values(max_images, max_bytes) -> None:
    for name, v in (("max_images", max_images), ("max_bytes", max_bytes)):
        if v is not None and (not isinstance(v, int) or v < 0 or v > 2 ** 62):
            raise ValueError(f"{name} must be a whole number from 0 up (or none), got {v!r}")


def _migrate(engine) -> list[str]:
    """Bring a database created by an earlier version up to this schema: add the columns it lacks (each is
    nullable or has a server default, so existing rows stay valid) and the indexes it lacks. Returns what was
    added, e.g. ["ric_images.owner", "index ix_ric_images_owner_id"]; [] when nothing was needed. Safe to race
    with another process doing the same (a column or index that appeared meanwhile is taken as done)."""
    done = []
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in have:
                continue
            if not col.nullable and col.server_default is None:
                raise StoreError(f"the database's table {table.name} lacks column {col.name}, which cannot be added "
                                 f"automatically; back the database up and recreate it, or add the column by hand")
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {col.name} {col.type.compile(dialect=engine.dialect)}"
            if col.server_default is not None:
                default = col.server_default.arg
                default = default.compile(dialect=engine.dialect) if hasattr(default, "compile") else default
                ddl += f" NOT NULL DEFAULT {default}"
            try:
                with engine.begin() as c:
                    c.exec_driver_sql(ddl)
            except (OperationalError, ProgrammingError):
                if col.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                    raise
                continue
            done.append(f"{table.name}.{col.name}")
        indexes = {i["name"] for i in insp.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(engine, checkfirst=True)
                done.append(f"index {index.name}")
    return done


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _first_line(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]


def open_store(url: str, blobs: str | None = None) -> Store:
    """Open (creating the tables if needed) the store at a database URL or SQLite file path; `blobs`: an
    s3://bucket/prefix for the ciphertexts' bytes (None: in the database)."""
    if blobs is not None:
        from .blobs import S3Blobs
        blobs = S3Blobs(blobs)
    try:
        return Store(url, blobs)
    except OperationalError as e:
        raise StoreError(f"cannot open the database: {_first_line(e)}") from None
