"""Augmentation: batched tensor ops for in-memory sets, the paper's PIL transforms for image folders.

In-memory sets are augmented on the device, a whole batch in one gather (no per-image Python, no
loader workers), as the fastest CIFAR-10 training scripts do. Image folders use the paper's recipe
(section 6): crops of 8-100% of the area with aspect ratio in [3/4, 4/3], and photometric
distortions (Howard 2013), here torchvision's ColorJitter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator, first: int = 0,
              total: int | None = None) -> torch.Tensor:
    """Random crops of a zero-padded batch (N, C, H, W) back to (H, W), each image mirrored with
    probability 1/2 when `flip`. The random draws come from `generator` (a CPU generator, so the
    draws are the same on every device); the gather runs where `x` is.

    `x` may be the share [first, first + N) of a global batch of `total` images: the draws are made
    for the whole batch and sliced, so every image gets the same crop whatever the process count.
    The result is a view in channels-last order (N, H, W, C in memory), which is what the model
    wants when it runs channels_last.
    """
    n, _, h, w = x.shape
    total = n if total is None else total
    share = slice(first, first + n)
    dy = torch.randint(0, 2 * pad + 1, (total,), generator=generator)[share]
    dx = torch.randint(0, 2 * pad + 1, (total,), generator=generator)[share]
    mirror = (torch.rand(total, generator=generator)[share] < 0.5) if flip else torch.zeros(n, dtype=torch.bool)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    rows = dy[:, None] + ar_h  # (N, H)
    # A mirrored image reads its columns right to left: the flip is folded into the same gather.
    cols = dx[:, None] + torch.where(mirror[:, None], (w - 1) - ar_w, ar_w)  # (N, W)
    device = x.device
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    batch = torch.arange(n, device=device)[:, None, None]
    # Advanced indices on dims 0, 2, 3 around a slice: the result is (N, H, W, C).
    out = padded[batch, :, rows.to(device)[:, :, None], cols.to(device)[:, None, :]]
    return out.permute(0, 3, 1, 2)


def resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a float batch to `hw` (antialiased when shrinking), a no-op at that size."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    shrink = x.shape[-2] > hw[0] or x.shape[-1] > hw[1]
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=shrink)


def pad_for(hw: tuple[int, int]) -> int:
    """Crop padding for an image of size `hw`: 4 pixels at 32x32 (the CIFAR custom), 1/8 of the side."""
    return max(1, min(hw) // 8)


def paper_train_transform(hw: tuple[int, int], channels: int, mean, std):
    """The paper's training augmentation for PIL images: random-resized crop (8-100% of the area,
    aspect 3/4-4/3), horizontal flip, photometric distortions; then tensor and normalization."""
    from torchvision import transforms as T

    steps = [
        T.RandomResizedCrop(hw, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        T.RandomHorizontalFlip(),
        T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
    ]
    if channels == 1:
        steps.append(T.Grayscale(1))
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


def eval_transform(hw: tuple[int, int], channels: int, mean, std):
    """Evaluation: resize the short side to 8/7 of the crop (256 for 224), center crop, normalize."""
    from torchvision import transforms as T

    steps = [T.Resize(round(min(hw) * 256 / 224), antialias=True), T.CenterCrop(hw)]
    if channels == 1:
        steps.append(T.Grayscale(1))
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])
