"""Configuration of the service: the database, the classifier, and the limits on what it accepts."""
from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DB = "sqlite:///ric-store.db"


def default_db() -> str:
    """`$RIC_DB` if set, else a SQLite file `ric-store.db` in the current folder."""
    return os.environ.get("RIC_DB") or DEFAULT_DB


def normalize_db_url(url: str) -> str:
    """A plain path means a SQLite file; postgres:// and postgresql:// use the psycopg (3) driver."""
    if "://" not in url:
        return "sqlite:///" + os.path.abspath(url)
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + rest
    return url


@dataclass
class Settings:
    db_url: str = DEFAULT_DB
    classifier: str = "cifar10"
    device: str = "cpu"
    max_file_bytes: int = 4 * 1024 * 1024   # one uploaded ciphertext
    max_files: int = 64                       # files in one upload request
    max_request_bytes: int = 64 * 1024 * 1024  # one request body, all files together
    max_side: int = 1024                      # pixels, either side
    max_batch: int = 64                       # images in one classifier forward pass
    max_batch_pixels: int = 2 * 1024 * 1024   # pixels (N*H*W) in one forward pass: 2 images at max_side 1024
    max_wait_ms: float = 5.0                  # how long the batcher waits to fill a batch
    page_limit: int = 1000                    # largest page a list request may ask for
    rate_limit: float = 50.0                  # requests per second per token (0: no limit); 429 beyond it
    rate_burst: int = 100                     # requests a token may make at once before the rate applies
    shared_limits: bool = False               # rate-limit buckets in the database (several server processes)

    def check(self) -> None:
        """Refuse limits that cannot work together (raised as ValueError with a one-line reason)."""
        for name in ("max_file_bytes", "max_files", "max_request_bytes", "max_side", "max_batch",
                     "max_batch_pixels", "page_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if not self.rate_limit >= 0:
            raise ValueError("--rate-limit must be 0 (no limit) or more requests per second")
        if self.rate_burst < 1:
            raise ValueError("--rate-burst must be at least 1")
        if self.max_side ** 2 > self.max_batch_pixels:
            raise ValueError(f"--max-batch-pixels {self.max_batch_pixels} cannot hold one image of the largest "
                             f"accepted size ({self.max_side}x{self.max_side} = {self.max_side ** 2} pixels); raise "
                             f"it or lower --max-side")
