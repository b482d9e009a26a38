"""DeferredCount: a small CSV file's count taken from its window's parse, else from its cached
bytes, else from storage; exact whichever way, counted once, and its cached bytes dropped when asked."""

from __future__ import annotations

import io
import threading

import pytest

from executor.metadata import csv_scan
from executor.metadata.csv_scan import CsvDialect
from executor.metadata.readers.csv import CsvFacts, CsvReader, DeferredCount
from executor.sources.ranges import WholeFileCache

DATA = b"id,v\n" + b"".join(b'%d,"x%d"\n' % (i, i) for i in range(40)) + b"\n\n"  # 41 records, blank lines


class Store:
    """Files by uri, a whole-file cache, and the opens that reached 'storage'."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.cache = WholeFileCache(1 << 20)
        self.opened: list[str] = []

    def open(self, uri: str) -> io.BytesIO:
        self.opened.append(uri)
        return io.BytesIO(self.files[uri])


def _deferred(store: Store, uri: str = "u") -> DeferredCount:
    return DeferredCount(store, uri, CsvDialect())  # type: ignore[arg-type]


def test_a_count_from_the_cached_bytes_reads_no_storage_and_drops_them_when_asked():
    store = Store({"u": DATA})
    store.cache.put("u", DATA)
    count = _deferred(store)
    assert not count.done()
    count.settle(forget=True)
    assert count.done() and (count.result().records, count.result().data_rows) == (41, 40)
    assert store.opened == [] and "u" not in store.cache


def test_a_count_nobody_gave_is_counted_when_asked_from_storage_once_dropped():
    store = Store({"u": DATA})
    count = _deferred(store)
    assert count.result().data_rows == 40 and count.exception() is None
    assert store.opened == ["u"]
    assert count.result().data_rows == 40 and store.opened == ["u"]  # counted once


def test_an_offered_count_is_taken_and_a_later_one_ignored():
    store = Store({"u": DATA})
    count = _deferred(store)
    count.offer(csv_scan.CsvCount(records=41, data_rows=40, bytes_read=0, exact_path="parsed"))
    count.offer(csv_scan.CsvCount(records=7, data_rows=6, bytes_read=0, exact_path="parsed"))
    count.settle()
    assert count.result().exact_path == "parsed" and count.result().data_rows == 40 and store.opened == []


def test_no_offer_means_counting_now_and_an_unreadable_file_fails_where_the_count_is_used():
    store = Store({"u": DATA})
    store.cache.put("u", DATA)
    count = _deferred(store)
    count.offer(None)  # the window read the file in part
    assert count.done() and count.result().data_rows == 40
    gone = DeferredCount(Store({}), "missing", CsvDialect())  # type: ignore[arg-type]
    assert isinstance(gone.exception(), KeyError)
    with pytest.raises(KeyError):
        gone.result()


def test_threads_asking_at_once_count_once(monkeypatch):
    import executor.metadata.readers.csv as csv_reader

    store = Store({"u": DATA})
    counted: list[int] = []
    real = csv_scan.count_records

    def counting(stream, dialect):  # type: ignore[no-untyped-def]
        counted.append(1)
        return real(stream, dialect)

    monkeypatch.setattr(csv_reader.csv_scan, "count_records", counting)
    count = _deferred(store)
    threads = [threading.Thread(target=count.result) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted == [1] and count.result().data_rows == 40


def test_the_window_extent_is_judged_by_the_bound_until_the_count_is_known():
    store = Store({"u": DATA})
    store.cache.put("u", DATA)
    count = _deferred(store)
    fact = CsvFacts(dialect=CsvDialect(), count=count)
    reader = CsvReader()
    assert reader.known_rows(fact) == count.bound() == 43  # before the count: its 43 LF + 1, less the header
    count.settle(forget=True)
    assert reader.known_rows(fact) == 40  # then the count itself
    assert _deferred(store).bound() is None  # the bytes gone: no bound (the rows are unknown)
