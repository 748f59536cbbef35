import pytest
import torch
import torch.nn.functional as F

from archkit.training import augment
from archkit.training.batches import SeededSampler, TensorBatches, generator, make_batches, mix_seed
from archkit.training.data import Data, DataSource, TensorSet
from archkit.training.errors import DataError

CPU = torch.device("cpu")


def reference_crop_flip(x, pad, flip, g):
    """One image at a time, the obvious way, drawing the same numbers in the same order."""
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    mirror = torch.rand(n, generator=g) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    padded = F.pad(x, (pad,) * 4)
    out = []
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out.append(crop.flip(-1) if mirror[i] else crop)
    return torch.stack(out)


@pytest.mark.parametrize("flip", [True, False])
def test_crop_flip_matches_the_per_image_reference(flip):
    x = torch.randint(0, 256, (16, 3, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    got = augment.crop_flip(x, 2, flip, torch.Generator().manual_seed(7))
    want = reference_crop_flip(x, 2, flip, torch.Generator().manual_seed(7))
    assert torch.equal(got, want)
    assert got.is_contiguous(memory_format=torch.channels_last)
    if not flip:
        assert not torch.equal(got, got.flip(-1))


def test_resize_and_pad():
    x = torch.rand(2, 3, 8, 8)
    assert augment.resize(x, (8, 8)) is x
    assert augment.resize(x, (32, 32)).shape == (2, 3, 32, 32)
    assert augment.pad_for((32, 32)) == 4 and augment.pad_for((8, 8)) == 1 and augment.pad_for((4, 4)) == 1


def tensor_data(n=40, classes=4, hw=(8, 8)):
    g = torch.Generator().manual_seed(0)
    train = TensorSet(torch.randint(0, 256, (n, 3, *hw), dtype=torch.uint8, generator=g), torch.arange(n) % classes)
    val = TensorSet(torch.randint(0, 256, (10, 3, *hw), dtype=torch.uint8, generator=g), torch.arange(10) % classes)
    test = TensorSet(torch.randint(0, 256, (6, 3, *hw), dtype=torch.uint8, generator=g), torch.arange(6) % classes)
    return Data(DataSource("synthetic"), classes, train, val, test, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), flip=True)


def batches(data, **kw):
    args = dict(batch_size=8, hw=(16, 16), device=CPU, channels_last=True, seed=3)
    args.update(kw)
    return make_batches(data, workers=0, **args)


def test_tensor_batches_are_normalized_resized_and_reproducible():
    data = tensor_data()
    b = batches(data)
    assert isinstance(b, TensorBatches) and b.steps_per_epoch == 5  # 40 // 8, the rest dropped
    first = list(b.epoch(0))
    assert len(first) == 5 and first[0][0].shape == (8, 3, 16, 16)
    assert first[0][0].is_contiguous(memory_format=torch.channels_last)
    again = list(batches(data).epoch(0))
    assert all(torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]) for a, c in zip(first, again, strict=True))
    other_epoch = list(b.epoch(1))
    assert not torch.equal(first[0][1], other_epoch[0][1])
    # starting mid-epoch gives exactly the remaining batches (what a resume relies on)
    tail = list(b.epoch(0, start=3))
    assert len(tail) == 2 and torch.equal(tail[0][0], first[3][0])
    # each epoch visits distinct images: 5 batches of 8 out of 40
    seen = torch.cat([y for _, y in first])
    assert len(seen) == 40
    vx, vy = zip(*b.val())
    assert sum(len(y) for y in vy) == 10 and vx[0].shape[1:] == (3, 16, 16)
    # the validation images are not augmented: the inverse normalization gives back the bilinear resize
    expected = augment.resize(data.val.images[:1].float() / 255, (16, 16))
    assert torch.allclose(vx[0][:1] * 0.25 + 0.5, expected, atol=1e-6)
    # the test split likewise, put on the device only when first asked for
    assert b._test is None
    tx, ty = zip(*b.test())
    assert torch.equal(torch.cat(ty), data.test.labels) and b._test is not None
    expected = augment.resize(data.test.images.float() / 255, (16, 16))
    assert torch.allclose(torch.cat(tx) * 0.25 + 0.5, expected, atol=1e-6)


def test_processes_split_every_global_batch_and_the_validation_set():
    data = tensor_data()
    whole = [y for _, y in batches(data).epoch(2)]
    parts = [[y for _, y in batches(data, rank=r, world=2).epoch(2)] for r in range(2)]
    for b, y in enumerate(whole):
        assert torch.equal(torch.cat([parts[0][b], parts[1][b]]), y)
    val = [torch.cat([y for _, y in batches(data, rank=r, world=2).val()]) for r in range(2)]
    assert sorted(torch.cat(val).tolist()) == sorted(data.val.labels.tolist())
    test = [torch.cat([y for _, y in batches(data, rank=r, world=2).test()]) for r in range(2)]
    assert len(test[0]) == len(test[1]) == 3 and sorted(torch.cat(test).tolist()) == sorted(data.test.labels.tolist())
    with pytest.raises(DataError, match="--batch-size 9 must divide evenly among 2 processes"):
        batches(data, batch_size=9, world=2)
    with pytest.raises(DataError, match="--batch-size 64 is larger than the 40 training images of synthetic"):
        batches(data, batch_size=64)


def test_seeded_sampler_yields_seeds_per_sample_and_resumes():
    b = batches(tensor_data())
    sampler = SeededSampler(b)
    sampler.set_epoch(1)
    full = list(sampler)
    assert len(full) == len(sampler) == 40
    sampler.set_epoch(1, start=2)
    assert list(sampler) == full[16:] and len(sampler) == 24
    assert len({seed for _, seed in full}) == 40


def test_seeds_are_stable_numbers():
    assert mix_seed(0, 1) == mix_seed(0, 1) != mix_seed(1, 0)
    assert 0 <= mix_seed(5) < 2**63
    assert torch.equal(torch.rand(3, generator=generator(1, 2)), torch.rand(3, generator=generator(1, 2)))


def test_folder_batches_are_the_same_with_or_without_workers(tmp_path):
    from archkit.training.batches import LoaderBatches
    from archkit.training.data import load_data, parse_data

    from .formats import write_pngs

    write_pngs(tmp_path / "train", {"a": 6, "b": 6})
    write_pngs(tmp_path / "val", {"a": 2, "b": 2}, seed=1)
    write_pngs(tmp_path / "test", {"a": 1, "b": 2}, seed=2)  # given: nothing is carved from train/'s 12
    data = load_data(parse_data(f"imagefolder:{tmp_path}"), channels=3, hw=(16, 16), classes=10, val_fraction=0.2,
                     batch_size=4)
    runs = []
    for workers in (0, 2):
        b = make_batches(data, workers=workers, batch_size=4, hw=(16, 16), device=CPU, channels_last=True, seed=1)
        assert isinstance(b, LoaderBatches) and b.steps_per_epoch == 3
        assert b.test_loader is None  # no test loader until test() is asked for
        runs.append((list(b.epoch(0)), list(b.epoch(0, start=1)), list(b.val()), list(b.test())))
    (full, tail, val, test), (full2, tail2, val2, test2) = runs
    assert full[0][0].shape == (4, 3, 16, 16) and full[0][0].is_contiguous(memory_format=torch.channels_last)
    for a, c in zip(full + tail + val + test, full2 + tail2 + val2 + test2, strict=True):
        assert torch.equal(a[0], c[0]) and torch.equal(a[1], c[1])
    assert torch.equal(tail[0][0], full[1][0])  # a resumed epoch sees the same augmented images
    assert sum(len(y) for _, y in val) == 4
    assert torch.cat([y for _, y in test]).tolist() == [0, 1, 1]
    # random-resized crops differ between epochs
    assert not torch.equal(next(iter(b.epoch(1)))[0], full[0][0])
    # two processes get the two halves of each batch, augmented as one process augments them
    shares = [list(make_batches(data, workers=0, batch_size=4, hw=(16, 16), device=CPU, channels_last=True,
                                seed=1, rank=r, world=2).epoch(0)) for r in range(2)]
    for k, (x, _) in enumerate(full):
        assert torch.equal(torch.cat([shares[0][k][0], shares[1][k][0]]), x)


def test_a_share_of_a_batch_is_augmented_as_in_the_whole_batch():
    x = torch.randint(0, 256, (8, 1, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    whole = augment.crop_flip(x, 1, True, torch.Generator().manual_seed(4))
    second_half = augment.crop_flip(x[4:], 1, True, torch.Generator().manual_seed(4), first=4, total=8)
    assert torch.equal(whole[4:], second_half)


def test_processes_see_the_images_a_single_process_would():
    data = tensor_data()
    whole = list(batches(data).epoch(1))
    halves = [list(batches(data, rank=r, world=2).epoch(1)) for r in range(2)]
    for b, (x, y) in enumerate(whole):
        assert torch.equal(torch.cat([halves[0][b][0], halves[1][b][0]]), x)
