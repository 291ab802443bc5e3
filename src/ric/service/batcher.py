"""The service's classifier, loaded once. Concurrent requests queue their images; one worker takes up to
`max_batch` of them and at most `max_batch_pixels` pixels in all (waiting at most `max_wait_ms` for more; an
image that does not fit waits for the next round), runs one forward pass per image shape on a single thread,
and answers each request. So no request, however many large images it holds, makes one forward pass bigger
than max_batch_pixels (the settings make sure one image of the largest accepted size fits). The plain forward
pass is all the cloud ever does."""
from __future__ import annotations

import asyncio
import concurrent.futures
from collections import defaultdict

import numpy as np
import torch

from ..batching import in_batches
from ..hub import Loaded
from ..io.tensors import to_float


def predict(classifier: Loaded, images: list[np.ndarray], device) -> list[int]:
    """Labels of uint8 (H, W, 3) images, one forward pass per distinct shape (in cache-sized channels-last batches:
    ric.batching)."""
    out = [0] * len(images)
    groups = defaultdict(list)
    for i, im in enumerate(images):
        groups[im.shape].append(i)
    with torch.inference_mode():
        for idx in groups.values():
            x = to_float([images[i] for i in idx])
            for i, lab in zip(idx, in_batches(classifier.module, x.to(device)).argmax(1).cpu().tolist()):
                out[i] = int(lab)
    return out


def _pixels(image: np.ndarray) -> int:
    return int(image.shape[0]) * int(image.shape[1])


class Batcher:
    def __init__(self, classifier: Loaded, device="cpu", max_batch: int = 64, max_wait_ms: float = 5.0,
                 max_batch_pixels: int = 2 * 1024 * 1024):
        self.classifier, self.device = classifier, torch.device(device)
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.max_pixels = max_batch_pixels
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ric-classify")
        self.batches = 0      # forward-pass rounds run (for tests and the load benchmark)
        self.images = 0

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    async def classify(self, images: list[np.ndarray]) -> list[int]:
        loop = asyncio.get_running_loop()
        futs = []
        for im in images:
            fut = loop.create_future()
            await self._queue.put((im, fut))
            futs.append(fut)
        return list(await asyncio.gather(*futs))

    async def _get_within(self, timeout: float):
        """The next queued item, or None after `timeout` seconds. Not asyncio.wait_for(queue.get()): on Python
        3.11 an item that arrives as the timeout fires can be taken from the queue and then dropped with the
        cancelled get, leaving its request waiting for ever. Here the get runs as its own task behind a shield; on
        timeout it is cancelled, and if it had already taken an item, that item is returned, not lost."""
        getter = asyncio.ensure_future(self._queue.get())
        try:
            return await asyncio.wait_for(asyncio.shield(getter), timeout)
        except asyncio.TimeoutError:
            getter.cancel()
            try:
                return await getter          # finished before the cancel took effect: keep its item
            except asyncio.CancelledError:
                return None

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        waiting = None   # an image taken from the queue that did not fit the previous round
        while True:
            first, waiting = (waiting if waiting is not None else await self._queue.get()), None
            items, pixels = [first], _pixels(first[0])
            deadline = loop.time() + self.max_wait
            while len(items) < self.max_batch:
                remaining = deadline - loop.time()
                item = self._queue.get_nowait() if not self._queue.empty() else (
                    None if remaining <= 0 else await self._get_within(remaining))
                if item is None:
                    break
                if pixels + _pixels(item[0]) > self.max_pixels:
                    waiting = item
                    break
                items.append(item)
                pixels += _pixels(item[0])
            try:
                labels = await loop.run_in_executor(self._pool, predict, self.classifier,
                                                    [im for im, _ in items], self.device)
                self.batches += 1
                self.images += len(items)
                for (_, fut), lab in zip(items, labels):
                    if not fut.done():
                        fut.set_result(lab)
            except Exception as e:  # a failed forward pass fails its requests, not the worker
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)
