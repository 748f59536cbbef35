"""Batches for the training loop: normalized float tensors on the device, in a reproducible order.

Every random choice (the epoch's order, each batch's crops and flips, each image's folder-path
augmentation) is drawn from a generator seeded by (seed, epoch, batch, ...), never from a stream
that depends on what ran before. So a run resumed at any step sees exactly the batches the
uninterrupted run saw, and the processes of a data-parallel run split every global batch between
them, each image augmented as a single process would have augmented it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator

import torch

from . import augment
from .data import Data, FolderSet, TensorSet
from .errors import DataError
from .images import BadImageError, Skipped, message_of

EVAL_BATCH_FACTOR = 2  # evaluation keeps no activations for backward: larger batches fit


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers, the same in every process and Python run (unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(mix_seed(*parts))


class Batches(ABC):
    """Shared interface: `steps_per_epoch`, `epoch(epoch, start)`, `val()` and `test()` yield (x, y) on
    the device. The test split is put on the device (or given a loader) only when `test()` is first
    called: runs that do not score it pay nothing.

    `batch_size` is the global batch; with `world` processes each yields `batch_size // world` images.
    """

    def __init__(self, data: Data, *, batch_size: int, hw: tuple[int, int], device: torch.device,
                 channels_last: bool, seed: int, rank: int = 0, world: int = 1):
        if batch_size % world:
            raise DataError(f"--batch-size {batch_size} must divide evenly among {world} processes")
        self.data = data
        self.batch_size = batch_size
        self.local_batch = batch_size // world
        self.hw = hw
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.seed = seed
        self.rank = rank
        self.world = world
        self.steps_per_epoch = len(data.train) // batch_size
        if self.steps_per_epoch < 1:
            raise DataError(f"--batch-size {batch_size} is larger than the {len(data.train)} training images "
                            f"of {data.source}")

    def close(self) -> None:  # noqa: B027 - deliberately empty: in-memory batches hold nothing else
        """Release what the batches hold beyond memory (worker processes): called when a run ends."""

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The permutation of training images for an epoch (the same in every process)."""
        return torch.randperm(len(self.data.train), generator=generator(self.seed, epoch))

    def local_indices(self, order: torch.Tensor, batch: int) -> torch.Tensor:
        """This process's share of global batch `batch`."""
        start = batch * self.batch_size + self.rank * self.local_batch
        return order[start:start + self.local_batch]

    @abstractmethod
    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Training batches of `epoch`, from global batch `start` on (a resumed run skips the rest)."""

    @abstractmethod
    def val(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The validation batches (this process's share), in a fixed order."""

    @abstractmethod
    def test(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test batches (this process's share), in a fixed order."""


class TensorBatches(Batches):
    """An in-memory set held on the device as uint8; crops, flips, resizing and normalization run
    there on whole batches."""

    def __init__(self, data: Data, **kwargs):
        super().__init__(data, **kwargs)
        assert all(isinstance(s, TensorSet) for s in (data.train, data.val, data.test))
        self.train_images = data.train.images.to(self.device)
        self.train_labels = data.train.labels.to(self.device)
        self.val_images, self.val_labels = self._shard(data.val)
        self._test: tuple[torch.Tensor, torch.Tensor] | None = None  # on the device once test() is called
        self.mean = torch.tensor(data.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(data.std, device=self.device).view(1, -1, 1, 1)
        self.pad = augment.pad_for(tuple(self.train_images.shape[-2:]))

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        x = augment.resize(x.float().div_(255.0), self.hw)
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)

    def epoch(self, epoch: int, start: int = 0):
        order = self.epoch_order(epoch)
        for b in range(start, self.steps_per_epoch):
            idx = self.local_indices(order, b).to(self.device)
            g = generator(self.seed, epoch, b)
            x = augment.crop_flip(self.train_images[idx], self.pad, self.data.flip, g,
                                  first=self.rank * self.local_batch, total=self.batch_size)
            yield self._finish(x), self.train_labels[idx]

    def _shard(self, split: TensorSet) -> tuple[torch.Tensor, torch.Tensor]:
        # Each process scores its own slice of a held-out split; the counts are summed across them.
        return split.images[self.rank::self.world].to(self.device), split.labels[self.rank::self.world].to(self.device)

    def _scored(self, images: torch.Tensor, labels: torch.Tensor):
        step = self.local_batch * EVAL_BATCH_FACTOR
        for i in range(0, len(labels), step):
            yield self._finish(images[i:i + step]), labels[i:i + step]

    def val(self):
        return self._scored(self.val_images, self.val_labels)

    def test(self):
        if self._test is None:
            self._test = self._shard(self.data.test)
        return self._scored(*self._test)


class SeededSampler(torch.utils.data.Sampler):
    """Yields (image index, sample seed) for this process's share of an epoch's batches from a start
    batch on. `set_epoch` picks the epoch; the loader's persistent workers keep running."""

    def __init__(self, batches: Batches):
        self.batches = batches
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __iter__(self):
        b = self.batches
        order = b.epoch_order(self.epoch)
        for batch in range(self.start, b.steps_per_epoch):
            first = b.rank * b.local_batch  # seeds follow the position in the global batch
            for pos, index in enumerate(b.local_indices(order, batch).tolist(), start=first):
                yield index, mix_seed(b.seed, self.epoch, batch, pos)

    def __len__(self) -> int:
        return (self.batches.steps_per_epoch - self.start) * self.batches.local_batch


class Transformed(torch.utils.data.Dataset):
    """Applies a transform to each (image, label) of a dataset. With `skip_bad`, a file that cannot
    be read becomes a `Skipped` marker (dropped from its batch by `collate_skipping`) instead of an
    error."""

    def __init__(self, dataset, transform, skip_bad: bool = False):
        self.dataset = dataset
        self.transform = transform
        self.skip_bad = skip_bad

    def __len__(self) -> int:
        return len(self.dataset)

    def _load(self, index):
        try:
            return self.dataset[index]
        except BadImageError as exc:
            if not self.skip_bad:
                raise
            return Skipped(exc.path, exc.reason)

    def __getitem__(self, index):
        loaded = self._load(index)
        if isinstance(loaded, Skipped):
            return loaded
        image, label = loaded
        return self.transform(image), label


class SeededTransform(Transformed):
    """Applies a random transform with the torch RNG seeded per sample, so an image's augmentation
    does not depend on which worker loads it or on what that worker loaded before."""

    def __getitem__(self, key):
        index, seed = key
        loaded = self._load(index)
        if isinstance(loaded, Skipped):
            return loaded
        image, label = loaded
        # fork_rng: with no workers this runs in the training process, whose RNG drives dropout.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image), label


def collate_skipping(batch: list):
    """default_collate of the readable samples, and the `Skipped` ones apart: (x, y, skipped)."""
    from torch.utils.data import default_collate

    good = [b for b in batch if not isinstance(b, Skipped)]
    skipped = [b for b in batch if isinstance(b, Skipped)]
    if not good:
        return None, None, skipped
    x, y = default_collate(good)
    return x, y, skipped


class LoaderBatches(Batches):
    """An image folder read by a DataLoader: worker processes decode and augment (the paper's crops and
    photometric distortions); pinned memory makes the copy to a GPU asynchronous."""

    def __init__(self, data: Data, *, workers: int, skip_bad: bool = False, **kwargs):
        super().__init__(data, **kwargs)
        assert all(isinstance(s, FolderSet) for s in (data.train, data.val, data.test))
        from torch.utils.data import DataLoader

        channels = len(data.mean)
        pin = self.device.type == "cuda"
        train_tf = augment.paper_train_transform(self.hw, channels, data.mean, data.std)
        self.sampler = SeededSampler(self)
        self.skip_bad = skip_bad
        self.skipped: list[Skipped] = []  # this process's unreadable samples met so far (with skip_bad)
        self.train_loader = DataLoader(
            SeededTransform(data.train.dataset, train_tf, skip_bad), batch_size=self.local_batch,
            sampler=self.sampler, num_workers=workers, pin_memory=pin, persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None, collate_fn=collate_skipping)
        self.workers = workers
        self.val_loader = self._eval_loader(data.val)
        self.test_loader = None  # made when test() is first called

    def close(self) -> None:
        """Stop the loaders' worker processes now. The training loader's are persistent (kept across
        epochs); left to the garbage collector, they outlive the run wherever a reference cycle or a
        traceback holds the loader, and a forked worker keeps copies of every file descriptor of
        this process (pipes to other programs included) open for as long as it lives."""
        for loader in (self.train_loader, self.val_loader, self.test_loader):
            iterator = getattr(loader, "_iterator", None)  # a persistent loader's live worker pool
            if iterator is not None and hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()
                loader._iterator = None

    def _eval_loader(self, split: FolderSet):
        from torch.utils.data import DataLoader, Subset

        data = self.data
        eval_tf = augment.eval_transform(self.hw, len(data.mean), data.mean, data.std)
        ds = Transformed(split.dataset, eval_tf, self.skip_bad)
        shard = list(range(self.rank, len(ds), self.world))  # this process's share; counts are summed
        return DataLoader(Subset(ds, shard), batch_size=self.local_batch * EVAL_BATCH_FACTOR,
                          num_workers=self.workers, pin_memory=self.device.type == "cuda",
                          collate_fn=collate_skipping)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor):
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return x, y.to(self.device, non_blocking=True)

    def _batches(self, loader):
        try:
            for x, y, skipped in loader:
                self.skipped += skipped
                if x is not None:
                    yield self._to_device(x, y)
        except BadImageError as exc:  # from a worker: its message is the worker's traceback
            raise BadImageError(message_of(exc), exc.path, exc.reason) from None

    def epoch(self, epoch: int, start: int = 0):
        self.sampler.set_epoch(epoch, start)
        yield from self._batches(self.train_loader)

    def val(self):
        yield from self._batches(self.val_loader)

    def test(self):
        if self.test_loader is None:
            self.test_loader = self._eval_loader(self.data.test)
        yield from self._batches(self.test_loader)


def make_batches(data: Data, *, workers: int, skip_bad: bool = False, **kwargs) -> Batches:
    """TensorBatches for in-memory sets, LoaderBatches for image folders (`skip_bad`: leave unreadable
    files out, see `images`)."""
    if data.in_memory:
        return TensorBatches(data, **kwargs)
    return LoaderBatches(data, workers=workers, skip_bad=skip_bad, **kwargs)
