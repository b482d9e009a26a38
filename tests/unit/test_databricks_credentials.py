"""The documented order of Azure credentials on Databricks, without network (the branches themselves
run against a Databricks API double and Azurite in tests/integration/test_databricks_credentials.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from executor.errors import SourceError
from executor.settings import Settings
from executor.sources.azure import (
    ACCOUNT_KEY,
    CONNECTION_STRING,
    DEFAULT,
    SAS,
    SECRET_SCOPE,
    AzureCredential,
    credential_source,
    spark_conf_for,
)
from executor.sources.databricks_credentials import (
    AUTHORITY,
    SERVICE_PRINCIPAL,
    UNITY_CATALOG,
    authority_url,
    check_issued_for,
    path_url,
)
from executor.sources.location import source_location

PATH = "https://acct.blob.core.windows.net/raw/sales/2026"


def loc(path: str = PATH):
    return source_location(path, "auto", Settings())


def test_the_order_on_databricks():
    s = Settings()
    assert credential_source(loc(PATH + "?sv=1&sig=x"), s, databricks=True) == SAS
    assert credential_source(loc(), replace(s, azure_connection_string="AccountName=acct;AccountKey=k"),
                             databricks=True) == CONNECTION_STRING
    assert credential_source(loc(), replace(s, azure_account_key="k"), databricks=True) == ACCOUNT_KEY
    full = replace(s, azure_sp_secret_scope="sp", azure_key_secret_scope="ks", azure_key_secret_key="k")
    assert credential_source(loc(), full, databricks=True) == UNITY_CATALOG
    assert credential_source(loc(), replace(full, azure_uc_credentials="off"), databricks=True) == SERVICE_PRINCIPAL
    assert credential_source(loc(), replace(full, azure_uc_credentials="off", azure_sp_secret_scope=None),
                             databricks=True) == SECRET_SCOPE
    # off Databricks (the API server, local runs) nothing of this applies
    assert credential_source(loc(), full, databricks=False) == DEFAULT


def test_unity_catalog_is_asked_for_the_abfss_url_of_the_path():
    assert path_url(loc()) == "abfss://raw@acct.dfs.core.windows.net/sales/2026"
    assert path_url(loc("abfss://raw@acct.dfs.core.windows.net/sales")) == "abfss://raw@acct.dfs.core.windows.net/sales"


def test_a_credential_issued_for_another_account_or_container_is_refused():
    check_issued_for(loc(), "abfss://raw@acct.dfs.core.windows.net/sales")
    check_issued_for(loc(), None)
    for url in ("abfss://raw@other.dfs.core.windows.net/sales", "abfss://cooked@acct.dfs.core.windows.net/sales"):
        with pytest.raises(SourceError, match="it is not used"):
            check_issued_for(loc(), url)


def test_spark_gets_databricks_credentials_own_settings():
    uc = AzureCredential(UNITY_CATALOG, sas_token="sv=1&sig=abc", spark_conf={})
    assert spark_conf_for(loc(), uc, "abfss") == {}  # Spark reads through Unity Catalog, not a fixed SAS
    sp = AzureCredential(SERVICE_PRINCIPAL, spark_conf={"fs.azure.account.auth.type.acct.dfs.core.windows.net": "OAuth"})
    assert spark_conf_for(loc(), sp, "abfss") == sp.spark_conf and spark_conf_for(loc(), sp, "staging") == {}


def test_the_authority_host_is_an_https_entra_url():
    assert Settings().azure_authority_host == AUTHORITY == "https://login.microsoftonline.com"
    assert Settings.from_env({"NUVYN_AZURE_AUTHORITY_HOST": "https://login.chinacloudapi.cn/"}).azure_authority_host \
        == "https://login.chinacloudapi.cn/"
    assert authority_url("https://login.chinacloudapi.cn/") == "https://login.chinacloudapi.cn"
    assert authority_url(None) == AUTHORITY
    for bad in ("http://login.microsoftonline.com", "login.microsoftonline.com", "https://login.x/tenant",
                "https://user@login.x", "https://login.x?a=1"):
        with pytest.raises(SourceError, match="NUVYN_AZURE_AUTHORITY_HOST"):
            authority_url(bad)


def test_a_non_public_authority_skips_instance_discovery():
    from executor.redaction import Secret
    from executor.sources.databricks_credentials import _service_principal_credential

    public = _service_principal_credential("t", "c", Secret("s-unit-1"), AUTHORITY, "sc", loc())
    national = _service_principal_credential("t", "c", Secret("s-unit-2"), "https://login.chinacloudapi.cn",
                                             "sc", loc())
    assert public._instance_discovery is None  # MSAL validates a public authority as usual
    assert national._instance_discovery is False
