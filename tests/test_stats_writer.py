"""The statistics run's store writer thread: in order, errors reach the caller."""

from __future__ import annotations

import pytest

from learnsync.sync.stats import StoreWriter


def test_writes_run_in_order_and_close_waits_for_them() -> None:
    done: list[int] = []
    writer = StoreWriter(depth=2)
    for n in range(50):
        writer.put(lambda n=n: done.append(n))  # type: ignore[misc]
    writer.close()
    assert done == list(range(50))


def test_the_first_error_stops_later_writes_and_is_raised() -> None:
    done: list[int] = []
    writer = StoreWriter()

    def fail() -> None:
        raise RuntimeError("disk full")

    writer.put(fail)
    with pytest.raises(RuntimeError, match="disk full"):
        for n in range(100):  # put raises once the writer has met the error
            writer.put(lambda n=n: done.append(n))  # type: ignore[misc]
        writer.close()
    assert done == []


def test_close_does_not_mask_an_exception_on_its_way() -> None:
    writer = StoreWriter()
    writer.put(lambda: (_ for _ in ()).throw(RuntimeError("write failed")))
    with pytest.raises(KeyError):
        try:
            raise KeyError("the import failed first")
        finally:
            writer.close()
