"""Published test accuracies of a data set, to place a study's confirmed networks among.

Fashion-MNIST's come from the Benchmark table of the data set's README (zalandoresearch/fashion-mnist;
Debian ships it as /usr/share/doc/dataset-fashion-mnist/README.md.gz): test top-1 on the official
10,000 test images, with the parameter count where the entry states one. They are drawn only
beside the confirmation's test top-1, never on the search's validation plots, whose short recipe
would make the comparison mislead.
"""

from __future__ import annotations

from .records import PublishedResult

SOURCE = {"fashion-mnist": "Fashion-MNIST README, Benchmark table (Xiao et al. 2017; zalandoresearch/fashion-mnist)"}

_FASHION = [
    ("human (crowd-sourced, no fashion expertise)", 0.835, None),
    ("2 conv + pooling (TensorFlow tutorial)", 0.916, None),
    ("2 conv, under 100K params", 0.925, 100_000),
    ("2 conv + pooling + BN", 0.934, None),
    ("GoogLeNet", 0.937, None),
    ("Google AutoML, 24 compute hours", 0.939, None),
    ("MobileNet", 0.950, None),
    ("DENSER (evolutionary NAS)", 0.953, None),
    ("DenseNet-BC, 768K params", 0.954, 768_000),
    ("WRN-28-10 + random erasing", 0.963, None),
]


def published_for(data: str | None) -> list[PublishedResult]:
    """The published results for a study's `data:` value (`fashion-mnist`, `fashion-mnist:DIR`), best
    last; [] for a data set without a table here."""
    kind = (data or "").partition(":")[0].strip().lower()
    if kind != "fashion-mnist":
        return []
    return [PublishedResult(label=label, test_top1=top1, params=params, source=SOURCE[kind])
            for label, top1, params in _FASHION]
