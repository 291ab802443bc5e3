"""A tiny name -> constructor registry (timm style), shared by classifiers and RIC models."""
from __future__ import annotations

from typing import Callable, Dict

from .errors import UnknownConfigKey


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._fns: Dict[str, Callable] = {}

    def register(self, name: str):
        def deco(fn):
            if name in self._fns:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._fns[name] = fn
            return fn
        return deco

    def names(self) -> list[str]:
        return sorted(self._fns)

    def create(self, name: str, **kwargs):
        if name not in self._fns:
            raise UnknownConfigKey(f"unknown {self.kind} architecture {name!r}; known: {', '.join(self.names())}")
        return self._fns[name](**kwargs)
