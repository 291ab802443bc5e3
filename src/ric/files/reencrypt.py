"""Re-encryption: ciphertexts of any format decrypted in memory and encrypted again in the current format.

One window at a time: the ciphertexts are read and opened with the old key (any scheme, any format: the resolver
picks), decrypted, and each recovered file is encrypted with the target scheme under the new key (the same key
unless rotated) and written to DIR/<stem>.png. `Targets` gives the target scheme for each ciphertext: made for
the classifier (and, for the paper scheme, the RIC model) the ciphertext names, unless one is given. Plaintexts
never touch the disk. Outputs follow the rules of `ric encrypt`: never written over an input (links resolved),
never over an existing file without `force`, and `resume` skips outputs that are already ciphertexts of the
target scheme under the new key. A ciphertext that does
not decrypt keeps its error (wrong key, tampering, a regeneration that differs: the usual exit codes) and gets no
output; nothing is ever deleted.
"""
from __future__ import annotations

import os
from collections import defaultdict

from ..errors import InputImageError, RICError
from ..io.images import load_picture
from ..schemes.registry import scheme_spec
from .plan import plan_outputs

DEFAULT_CLASSIFIER = "cifar10"     # for ciphertexts that name none (sealed) when no --classifier is given


class Targets:
    """The target scheme for each parsed ciphertext, one instance per (classifier, model), loaded once. `make(name,
    classifier, model)` builds one; `classifier` / `model` fix them for every file, else each file's own names
    (ric.hub.shipped_or_default) are used, and DEFAULT_CLASSIFIER for a sealed ciphertext, which names none."""

    def __init__(self, name: str, make, classifier: str | None = None, model: str | None = None):
        self.name, self.make, self.classifier, self.model = name, make, classifier, model
        self._cache: dict = {}

    def scheme_for(self, parsed):
        from ..hub import shipped_or_default
        hd = parsed.header
        clf = self.classifier or (shipped_or_default(hd.classifier, "classifier") if hd else DEFAULT_CLASSIFIER)
        needs_model = scheme_spec(self.name).needs_model
        model = (self.model or (shipped_or_default(hd.model, "ric") if hd else clf)) if needs_model else None
        if (clf, model) not in self._cache:
            self._cache[(clf, model)] = self.make(self.name, clf, model)
        return self._cache[(clf, model)]

    def owns(self, key):
        """For resume: an existing output counts as done when it is a ciphertext of the target scheme, in the format
        RIC writes, under `key` (SchemeSpec.is_current)."""
        from ..schemes.container import read
        current = scheme_spec(self.name).is_current

        def check(out: str) -> bool:
            try:
                return current(key, read(out))
            except RICError:
                return False
        return check


def reencrypt_window(engine, resolver, targets: Targets, key, new_key, paths, out_dir, force, resume, seen, pool,
                     progress):
    """The FileResults of one window (see the module docstring)."""
    from .engine import _read, _scheme_for
    results, outs = plan_outputs(paths, out_dir, force, resume, targets.owns(new_key), seen)
    by_scheme = defaultdict(list)          # (source scheme, target scheme) -> [(index, parsed)]
    for i, got in zip(outs, pool.map(_read, [paths[i] for i in outs])):
        try:
            if isinstance(got, RICError):
                raise got
            by_scheme[_scheme_for(resolver, got), targets.scheme_for(got)].append((i, got))
        except RICError as e:
            results[i].error = e
    for (scheme, target), items in by_scheme.items():
        pictures = _recovered(scheme, key, items, paths, results, pool, target.keeps_mode)
        engine.encrypt_pictures(target, new_key, pictures, results, outs, force, progress)
    return results


def _recovered(scheme, key, items: list, paths, results, pool, keep_mode: bool) -> dict:
    """{index: Picture} of the files that `scheme` recovers from the parsed ciphertexts `items` [(index, parsed)]
    (errors recorded in results)."""
    from .engine import _prepare
    prepared, order = [], []
    for (i, _), got in zip(items, pool.map(lambda it: _prepare(scheme, key, it[1]), items)):
        if isinstance(got, RICError):
            results[i].error = got
        else:
            prepared.append(got)
            order.append(i)
    ext_of = scheme.output_ext
    out = {}
    for j, o in scheme.decrypt(key, prepared):
        i = order[j]
        if o.error is not None:
            results[i].error = o.error
            continue
        name = os.path.splitext(paths[i])[0] + ext_of(prepared[j])
        try:
            out[i] = load_picture(name, None, keep_mode, data=o.data)
        except InputImageError as e:
            results[i].error = e
    return out

