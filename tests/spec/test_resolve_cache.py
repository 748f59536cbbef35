"""Each spec is resolved once, and the kept resolution never outlives its spec."""

from __future__ import annotations

import gc
import weakref

from archkit.spec import resolve as resolution
from archkit.spec.loader import load_spec, spec_from_data
from archkit.spec.resolve import resolve, resolved


def test_a_spec_is_resolved_once_and_the_result_names_that_spec():
    spec = spec_from_data(load_spec("googlenet-32").to_dict())
    first, second = resolved(spec), resolved(spec)
    assert first.spec is spec and second.spec is spec
    assert first.layers is second.layers  # the kept resolution, not a new one
    assert first == resolve(spec)


def test_the_cache_lets_specs_go():
    data = load_spec("googlenet-32").to_dict()
    specs = [spec_from_data(data) for _ in range(50)]
    refs = [weakref.ref(s) for s in specs]
    keys = {id(s) for s in specs}
    assert keys <= set(resolution._RESOLVED)
    del specs
    gc.collect()
    assert all(r() is None for r in refs)
    assert not keys & set(resolution._RESOLVED)
