"""Labelling image files with a plaintext classifier (plaintexts or ciphertexts alike: the cloud's forward pass).

A window of files at a time (`FileEngine.classify`: folders listed lazily, at most `window` files and
`window_pixels` decoded pixels in memory, a progress bar), so a folder of 10,000 phone photos is labelled in
constant memory; `classify_files` is the same for a list, without a bar.
"""
from __future__ import annotations

from collections import defaultdict

import torch

from ..batching import in_batches
from ..classifiers.tiling import TiledClassifier, tileable
from ..errors import InputImageError
from ..io.images import load_image
from ..io.tensors import to_float
from ..tiles import DEFAULT_TILE, needs_tiles
from .plan import FileResult


def classify_window(classifier, paths: list[str], device="cpu", batch_size: int = 64,
                    progress=None) -> list[FileResult]:
    """A FileResult per path with its label and class name (`classifier`: a hub.Loaded); unreadable files get
    their InputImageError. Every file of `paths` is decoded at once: the caller bounds the window. Images above
    1 MP are classified one at a time in tiles (same logits up to float rounding; a 12-MP photo's activations
    would take several GB at once). `progress(k)` is told each batch's size."""
    results = [FileResult(p) for p in paths]
    images, groups = {}, defaultdict(list)
    for i, p in enumerate(paths):
        try:
            images[i] = load_image(p)
            groups[images[i].shape].append(i)
        except InputImageError as e:
            results[i].error = e
    with torch.inference_mode():
        for (h, w, _), idx in groups.items():
            net, size = classifier.module, batch_size
            if needs_tiles(h, w, DEFAULT_TILE) and tileable(net):
                net, size = TiledClassifier(net, DEFAULT_TILE), 1
            for s in range(0, len(idx), size):
                batch = idx[s:s + size]
                pred = in_batches(net, to_float([images.pop(i) for i in batch], device)).argmax(1).cpu().tolist()
                for i, lab in zip(batch, pred):
                    results[i].label = lab
                    results[i].cls = classifier.classes[lab] if lab < len(classifier.classes) else str(lab)
                if progress is not None:
                    progress(len(batch))
    return results


def classify_files(classifier, paths: list[str], device="cpu", batch_size: int = 64, **engine) -> list[FileResult]:
    """Every FileResult of `paths` (files; folders are listed), in order, a window at a time (FileEngine's options
    in `engine`; no progress bar unless show_progress=True)."""
    from .engine import FileEngine
    engine = {"show_progress": False} | engine
    return list(FileEngine(**engine).classify(classifier, paths, device, batch_size))
