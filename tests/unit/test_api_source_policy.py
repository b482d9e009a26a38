"""Issue 13 item 2: the API reads only what NUVYN_API_SOURCE_ROOTS allows (paths resolved first), and
the local walk (job too, API or not) never follows a symlink out of the source root nor opens a FIFO
or a device."""

from __future__ import annotations

import os
import stat

import pytest
from fastapi.testclient import TestClient

from executor.sources.local import LocalFileStore
from executor.sources.location import parse_location
from executor.sources.policy import SourceNotAllowed, SourcePolicy
from tests.api_helpers import AUTH, make_app


@pytest.fixture()
def tree(tmp_path):
    """<tmp>/lake (the allowed root) with a CSV; <tmp>/secret outside it, and links that point there."""
    lake = tmp_path / "lake"
    (lake / "sales").mkdir(parents=True)
    (lake / "sales" / "a.csv").write_text("id,name\n1,x\n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.csv").write_text("private_key\n-----BEGIN PRIVATE KEY-----\n")
    (secret / "key.csv").chmod(0o600)
    (lake / "passwd.csv").symlink_to("/etc/passwd")
    (lake / "keys").symlink_to(secret, target_is_directory=True)
    (lake / "sales" / "inside.csv").symlink_to(lake / "sales" / "a.csv")  # stays inside: kept
    (tmp_path / "lake_link").symlink_to(secret, target_is_directory=True)
    return tmp_path


def _check(policy: SourcePolicy, path: str) -> None:
    policy.check(parse_location(path))


def _refused(policy: SourcePolicy, paths) -> None:
    for path in paths:
        with pytest.raises(SourceNotAllowed, match="NUVYN_API_SOURCE_ROOTS"):
            _check(policy, path)


def test_paths_are_resolved_before_the_check(tree, monkeypatch):
    policy = SourcePolicy.parse(f"{tree / 'lake'}")
    _check(policy, str(tree / "lake"))
    _check(policy, str(tree / "lake" / "sales"))
    _check(policy, f"file://{tree / 'lake' / 'sales'}")
    monkeypatch.setenv("HOME", str(tree))
    _check(policy, "~/lake/sales")
    _refused(policy, (
        str(tree / "lake" / ".." / "secret"),  # ..
        f"{tree}/lake/sales/../../secret/key.csv",
        str(tree / "lake" / "keys"),  # a symlink inside the root that points out
        str(tree / "lake" / "passwd.csv"),  # a .csv symlink to /etc/passwd
        str(tree / "lake_link"),  # a root-looking link elsewhere
        f"file://{tree}/secret",  # file://
        "file:///etc/passwd",
        "~/secret",  # ~
        "/etc/passwd",  # plainly out of root
        str(tree / "lake2"),  # a sibling sharing the prefix
    ))


def test_dbfs_prefixes_cannot_be_climbed_out_of():
    policy = SourcePolicy.parse("dbfs:/mnt/lake")
    _check(policy, "dbfs:/mnt/lake/raw")
    _check(policy, "/dbfs/mnt/lake")
    _refused(policy, ("dbfs:/../..", "dbfs:/mnt/lake/../../etc", "dbfs:/mnt/lake2", "/dbfs/../etc/passwd"))


def test_azure_roots_by_account_container_and_prefix():
    policy = SourcePolicy.parse("acct01/lake/raw, acct02/other")
    _check(policy, "https://acct01.blob.core.windows.net/lake/raw/sales?sv=1&sig=x")
    _check(policy, "abfss://lake@acct01.dfs.core.windows.net/raw")
    _check(policy, "https://acct02.blob.core.windows.net/other/anything")
    _refused(policy, ("https://acct01.blob.core.windows.net/lake/curated",
                      "https://acct01.blob.core.windows.net/lake/raw/../curated",
                      "https://acct01.blob.core.windows.net/lake/rawx",
                      "https://acct03.blob.core.windows.net/lake/raw",
                      "/tmp"))


def test_no_setting_refuses_local_and_dbfs_and_says_how_to_allow_them():
    policy = SourcePolicy.parse(None)
    for path in ("/data/lake", "dbfs:/mnt/lake"):
        with pytest.raises(SourceNotAllowed, match=r"set it .*NUVYN_API_SOURCE_ROOTS=") as err:
            _check(policy, path)
        assert "restart" in str(err.value)
    _check(policy, "https://acct01.blob.core.windows.net/lake/raw?sig=x")  # Azure: credential rules apply


def test_refusals_name_the_path_the_setting_and_the_fix(tmp_path):
    refusals = (
        (SourcePolicy.parse(None), "/data/lake",
         "local paths are refused: this server has no NUVYN_API_SOURCE_ROOTS; set it to the folders it may read "
         "(e.g. NUVYN_API_SOURCE_ROOTS=/data/lake) and restart the server"),
        (SourcePolicy.parse(None), "dbfs:/mnt/lake",
         "DBFS paths are refused: this server has no NUVYN_API_SOURCE_ROOTS; set it (e.g. "
         "NUVYN_API_SOURCE_ROOTS=dbfs:/mnt/lake) and restart the server"),
        (SourcePolicy.parse(str(tmp_path / "lake")), str(tmp_path / "other"),
         f"data_source_path {str(tmp_path / 'other')!r} resolves outside the local roots allowed by "
         "NUVYN_API_SOURCE_ROOTS; add its folder to NUVYN_API_SOURCE_ROOTS or use a path below an allowed root"),
        (SourcePolicy.parse("dbfs:/mnt/lake"), "dbfs:/mnt/other",
         "data_source_path 'dbfs:/mnt/other' resolves outside the DBFS prefixes allowed by "
         "NUVYN_API_SOURCE_ROOTS; add the prefix to NUVYN_API_SOURCE_ROOTS"),
    )
    for policy, path, message in refusals:
        with pytest.raises(SourceNotAllowed) as err:
            _check(policy, path)
        assert str(err.value) == message


def test_bad_entries_are_named():
    with pytest.raises(SourceNotAllowed, match="'ftp://x' is not understood"):
        SourcePolicy.parse("/ok, ftp://x")


def test_api_answers_403_outside_the_roots_and_200_inside(tree, tmp_path):
    app, launcher, _ = make_app(tmp_path / "srv", source_roots=str(tree / "lake"))
    body = {"job_type": "metadata_extraction", "workflow_id": "w1"}
    with TestClient(app) as client:
        ok = client.post("/jobs/create", json={**body, "data_source_path": str(tree / "lake" / "sales")},
                         headers=AUTH)
        assert ok.status_code == 200, ok.text
        for path in (str(tree / "lake" / "keys"), f"{tree}/lake/../secret", f"file://{tree}/secret",
                     "/etc/passwd", "dbfs:/../.."):
            r = client.post("/jobs/create", json={**body, "data_source_path": path}, headers=AUTH)
            assert r.status_code == 403, (path, r.text)
            assert "NUVYN_API_SOURCE_ROOTS" in r.json()["error"]
    assert launcher.submitted == [ok.json()["job_id"]]


def test_api_without_roots_refuses_local_paths(tmp_path):
    app, launcher, _ = make_app(tmp_path)
    with TestClient(app) as client:
        r = client.post("/jobs/create", json={"job_type": "metadata_extraction", "workflow_id": "w1",
                                              "data_source_path": str(tmp_path)}, headers=AUTH)
    assert r.status_code == 403 and "NUVYN_API_SOURCE_ROOTS=" in r.json()["error"]
    assert launcher.submitted == []


def test_unsupported_scheme_is_refused_at_the_door(tmp_path):
    app, launcher, _ = make_app(tmp_path)
    with TestClient(app) as client:
        r = client.post("/jobs/create", json={"job_type": "metadata_extraction", "workflow_id": "w1",
                                              "data_source_path": "ftp://host/file.csv"}, headers=AUTH)
    assert r.status_code == 400 and "unsupported scheme 'ftp'" in r.json()["error"]
    assert launcher.submitted == []


# ------------------------------------------------------------------ the walk (job side, API or not)

def _walk(root: str) -> dict[str, str | None]:
    return {f.relative: f.skip_reason for f in LocalFileStore(root).list_files(lambda name: None)}


def test_walk_never_follows_a_symlink_out_of_the_root(tree):
    found = _walk(str(tree / "lake"))
    assert found["sales/a.csv"] is None
    assert found["sales/inside.csv"] is None  # a link that stays inside is read
    assert found["passwd.csv"] == "symlink out of the source root"
    assert found["keys"] == "symlink out of the source root"
    assert not any(rel.startswith("keys/") for rel in found)  # nothing below the link was listed


def test_walk_refuses_fifos_and_devices(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "ok.csv").write_text("a\n1\n")
    os.mkfifo(lake / "pipe.csv")
    (lake / "zero.csv").symlink_to("/dev/zero")  # a device, reached through a link out of the root
    found = _walk(str(lake))
    assert found["ok.csv"] is None
    assert found["pipe.csv"] == "not a regular file"
    assert found["zero.csv"] == "symlink out of the source root"
    assert stat.S_ISFIFO(os.stat(lake / "pipe.csv").st_mode)


def test_walk_refuses_a_device_inside_the_root_and_fifo_or_device_roots(tmp_path):
    from executor.errors import SourceError

    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "zero.csv").symlink_to("/dev/zero")
    # the root itself is /dev: the device is inside it, still refused as not a regular file
    found = {f.relative: f.skip_reason for f in LocalFileStore("/dev").list_files(lambda n: None)
             if f.relative == "zero"}
    assert found == {"zero": "not a regular file"}
    os.mkfifo(tmp_path / "pipe.csv")
    for root in ("/dev/zero", str(tmp_path / "pipe.csv")):
        with pytest.raises(SourceError, match="neither a folder nor a regular file"):
            list(LocalFileStore(root).list_files(lambda n: None))


@pytest.mark.parametrize("confined", [False, True], ids=["walk", "confined walk"])
def test_a_symlink_loop_is_listed_once_as_a_skipped_folder(tmp_path, confined):
    from executor.sources.local import ConfinedRoot

    lake = tmp_path / "lake"
    (lake / "a" / "b").mkdir(parents=True)
    (lake / "a" / "b" / "x.csv").write_text("c\n1\n")
    (lake / "a" / "b" / "up").symlink_to(lake / "a", target_is_directory=True)  # a loop that stays inside
    store = LocalFileStore(str(lake), confined=ConfinedRoot(str(lake)) if confined else None)
    found = {f.relative: f.skip_reason for f in store.list_files(lambda name: None)}
    assert found["a/b/x.csv"] is None
    assert found["a/b/up/"] == "symlink loop"
    assert not any(rel.startswith("a/b/up/b") for rel in found)  # the loop was not walked again
