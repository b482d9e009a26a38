"""The store's listing without the SDK's deserializer (RangeGetter.list_page + parse_list_page)
gives what the SDK's listing gives, page by page, against Azurite: names (spaces, unicode, `%`,
`+`, `#`), sizes, etags, modification times, metadata (an ADLS folder marker), the sub-folder
prefixes of a delimiter listing before the blobs, and the markers that chain the pages."""

from __future__ import annotations

import uuid

import pytest

from tests.azurite import ACCOUNT

pytestmark = [pytest.mark.integration, pytest.mark.azure]

NAMES = ["a.csv", "b c.csv", "d/e.parquet", "d/f g/h.json", "d/f g/i%20j.csv", "d/k+l.csv", "d/#m.csv",
         "d/\u00e9t\u00e9/n.csv", "o/p/q/r.csv", "o/s.csv", "t.csv"]


@pytest.fixture(scope="module")
def container(azurite):
    name = "lst" + uuid.uuid4().hex[:8]
    cc = azurite.service().get_container_client(name)
    cc.create_container()
    for i, n in enumerate(NAMES):
        cc.upload_blob(n, b"x" * (i + 1))
    cc.upload_blob("o/p", b"", metadata={"hdi_isfolder": "true"})  # an ADLS directory as the blob API lists it
    return name


def _store(azurite, container, getter: bool):
    from executor.settings import Settings
    from executor.sources.azure import AzureBlobFileStore
    from executor.sources.location import source_location

    settings = Settings(azure_connection_string=azurite.connection_string, io_threads=2)
    store = AzureBlobFileStore.from_location(source_location(azurite.url(container), "azure_blob", settings), settings)
    if not getter:
        store.getter = None  # the SDK's listing
    return store


def _fields(item):  # type: ignore[no-untyped-def]
    from executor.sources.azure import _is_folder_marker, _is_prefix

    modified = getattr(item, "last_modified", None)
    return ("prefix" if _is_prefix(item) else "marker" if _is_folder_marker(item) else "blob", item.name,
            getattr(item, "size", None), getattr(item, "etag", None),
            modified.timestamp() if modified else None, dict(getattr(item, "metadata", None) or {}))


def _pages(store, prefix, delimiter):  # type: ignore[no-untyped-def]
    pages, marker = [], None
    while True:
        items, marker = store._list_page(prefix, delimiter, marker)
        pages.append([_fields(i) for i in items])
        if marker is None:
            return pages


@pytest.mark.parametrize("page_size", [None, 3])
@pytest.mark.parametrize("prefix,delimiter", [("", None), ("", "/"), ("d/", "/"), ("d/", None), ("o/", "/")])
def test_raw_listing_pages_equal_the_sdks(azurite, container, page_size, prefix, delimiter):
    raw, sdk = _store(azurite, container, True), _store(azurite, container, False)
    raw.list_page_size = sdk.list_page_size = page_size
    got, want = _pages(raw, prefix, delimiter), _pages(sdk, prefix, delimiter)
    assert got == want
    total = sum(len(p) for p in got)
    assert total > 1
    if page_size and total > page_size:
        assert len(got) > 1  # several pages, chained by their markers


def test_list_files_is_the_same_through_either_listing(azurite, container):
    raw, sdk = _store(azurite, container, True), _store(azurite, container, False)
    raw.list_page_size = sdk.list_page_size = 4

    def files(store):  # type: ignore[no-untyped-def]
        return [(f.relative, f.size, f.etag, f.modified, f.skip_reason) for f in store.list_files(lambda seg: None)]

    assert files(raw) == files(sdk)
    assert [f[0] for f in files(raw)] == sorted(n for n in NAMES)  # the folder marker is not a file


def test_a_refused_raw_listing_gives_the_sdks_error(azurite):
    from executor.errors import SourceError

    store = _store(azurite, "nosuch" + uuid.uuid4().hex[:6], True)
    with pytest.raises(SourceError, match="does not exist in storage account"):
        list(store.list_files(lambda seg: None))
    assert ACCOUNT in azurite.endpoint
