"""The encrypted-image store: two tables behind SQLAlchemy (SQLite file by default, PostgreSQL by URL).

`ric_images` holds each ciphertext's bytes, its original file name, the label the service's classifier
gave it and its public metadata; `ric_tokens` holds SHA-256 hashes of upload tokens. Listing is ordered
by id and paginated by "id greater than the cursor", so a page is stable while uploads go on.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass

from sqlalchemy import (Boolean, DateTime, Index, Integer, LargeBinary, String, Text, create_engine, delete, event,
                        func, select, text)
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, deferred, mapped_column

from .errors import StoreError
from .settings import normalize_db_url
from .tokens import hash_token, new_token


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
    __table_args__ = (Index("ix_ric_images_label_id", "label", "id"),)


class TokenRow(Base):
    __tablename__ = "ric_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


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


class Store:
    def __init__(self, url: str):
        self.url = normalize_db_url(url)
        try:
            if self.url.startswith("sqlite"):
                self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=8, max_overflow=8)
            Base.metadata.create_all(self.engine)
        except NoSuchModuleError:
            raise StoreError(f"no database driver for {self.url.split('://')[0]!r}") from None
        except ModuleNotFoundError as e:
            hint = ' (pip install "ric[postgres]")' if "psycopg" in str(e) else ""
            raise StoreError(f"the database driver is not installed: {e.name}{hint}") from None
        except ArgumentError:
            raise StoreError(f"malformed database URL {url!r}") from None
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open the database {self.safe_url}: {_first_line(e)}") from None
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
    def create_token(self, name: str = "") -> str:
        token = new_token()
        with self._write_lock, Session(self.engine) as s, s.begin():
            s.add(TokenRow(token_hash=hash_token(token), name=name[:100], created_at=_now(), revoked=False))
        return token

    def check_token(self, token: str) -> bool:
        with Session(self.engine) as s:
            row = s.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(token)))
            return row is not None and not row.revoked

    def revoke_token(self, token: str) -> bool:
        with self._write_lock, Session(self.engine) as s, s.begin():
            row = s.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(token)))
            if row is None:
                return False
            row.revoked = True
            return True

    # -- images -------------------------------------------------------------------------------------
    def add_images(self, images: list[NewImage]) -> list[dict]:
        """Store all images in one transaction (all or none) and return their public records."""
        rows = [ImageRow(filename=im.filename, label=im.label, scheme=im.scheme, height=im.height, width=im.width,
                         size=len(im.data), sha256=im.sha256, classifier=im.classifier,
                         meta=json.dumps(im.meta, sort_keys=True), created_at=_now(), data=im.data)
                for im in images]
        with self._write_lock, Session(self.engine, expire_on_commit=False) as s, s.begin():
            s.add_all(rows)
            s.flush()
        return [_public(r) for r in rows]

    def list_images(self, label: int | None = None, after: int = 0, limit: int = 100) -> tuple[list[dict], int | None]:
        """Up to `limit` records with id > after (and this label), and the cursor for the next page or None."""
        q = select(ImageRow).where(ImageRow.id > after).order_by(ImageRow.id).limit(limit + 1)
        if label is not None:
            q = q.where(ImageRow.label == label)
        with Session(self.engine) as s:
            rows = list(s.scalars(q))
        more = len(rows) > limit
        rows = rows[:limit]
        return [_public(r) for r in rows], (rows[-1].id if more else None)

    def get_image(self, image_id: int) -> dict | None:
        with Session(self.engine) as s:
            row = s.get(ImageRow, image_id)
            return None if row is None else _public(row)

    def get_data(self, image_id: int) -> tuple[str, bytes] | None:
        with Session(self.engine) as s:
            row = s.execute(select(ImageRow.filename, ImageRow.data).where(ImageRow.id == image_id)).first()
            return None if row is None else (row[0], row[1])

    def delete_image(self, image_id: int) -> bool:
        with self._write_lock, Session(self.engine) as s, s.begin():
            return s.execute(delete(ImageRow).where(ImageRow.id == image_id)).rowcount > 0

    def count(self, label: int | None = None) -> int:
        q = select(func.count(ImageRow.id))
        if label is not None:
            q = q.where(ImageRow.label == label)
        with Session(self.engine) as s:
            return int(s.scalar(q))

    def label_counts(self) -> dict[int, int]:
        with Session(self.engine) as s:
            rows = s.execute(select(ImageRow.label, func.count(ImageRow.id)).group_by(ImageRow.label))
            return {int(lab): int(n) for lab, n in rows}


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


def open_store(url: str) -> Store:
    """Open (creating the tables if needed) the store at a database URL or SQLite file path."""
    try:
        return Store(url)
    except OperationalError as e:
        raise StoreError(f"cannot open the database: {_first_line(e)}") from None
