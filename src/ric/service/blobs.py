"""Ciphertext bytes in object storage (`ric serve --blobs s3://bucket/prefix`, the `s3` extra), records in SQL.

Each stored ciphertext is one object `<prefix>/<32 random hex digits>` (the name tells nothing about the image);
its row in ric_images names the object (`blob`). The order of writes makes the pair crash-consistent:

- upload: the objects are written first, then the rows in one transaction; the upload is acknowledged after the
  commit. A process killed before the commit leaves objects without rows (never a row without its object).
- delete: the row is deleted (committed), then the object. A process killed in between leaves an object without
  a row.
- `cleanup` removes objects older than a grace period (longer than any upload takes) that no row names: after
  a pass, no object is without a record.
"""
from __future__ import annotations

import datetime as dt
import secrets

from ..errors import StoreError
from ..storage import s3


class S3Blobs:
    """The objects under `s3://bucket/prefix/` (endpoint and credentials from the standard AWS settings)."""

    def __init__(self, url: str):
        if not url.startswith("s3://"):
            raise StoreError(f"--blobs takes s3://BUCKET/PREFIX, not {url!r}")
        try:
            self.bucket, key = s3.split(url)
        except OSError as e:
            raise StoreError(f"--blobs: {e.strerror}") from None
        self.prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        self.url = f"s3://{self.bucket}/{self.prefix}"
        self._call("head_bucket", Bucket=self.bucket)

    def _call(self, op: str, **kw):
        try:
            return getattr(s3.client(), op)(**kw)
        except StoreError:
            raise
        except Exception as e:    # noqa: BLE001 — every client error: one line, exit 23
            raise StoreError(f"object store {self.url}: {op}: {s3.why(e)[1]}") from None

    def put(self, data: bytes) -> str:
        """Store `data` under a new random name (never replacing an object) and return the name."""
        key = self.prefix + secrets.token_hex(16)
        self._call("put_object", Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        return key

    def get(self, key: str) -> bytes:
        body = self._call("get_object", Bucket=self.bucket, Key=key)["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self.bucket, Key=key)

    def presign(self, key: str, seconds: int = 300) -> str:
        """A URL that downloads the object without credentials for `seconds`."""
        return self._call("generate_presigned_url", ClientMethod="get_object",
                          Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds)

    def older_than(self, when: dt.datetime):
        """Names of the objects under the prefix last written before `when`, lazily (a page at a time)."""
        try:
            pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                yield [o["Key"] for o in page.get("Contents", []) if o["LastModified"] < when]
        except Exception as e:    # noqa: BLE001
            raise StoreError(f"object store {self.url}: list: {s3.why(e)[1]}") from None
