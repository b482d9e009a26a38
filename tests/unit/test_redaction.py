"""Secrets (SAS tokens, account keys, connection strings) never survive redaction."""

from __future__ import annotations

from executor.redaction import REDACTED, SecretRegistry, redact_text, strip_query

DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS = "sv=2023-11-03&sp=rl&se=2030-01-01T00%3A00%3A00Z&sr=c&sig=Zm9vYmFyc2VjcmV0c2lnbmF0dXJl%2Bx%3D"


def test_strip_query_drops_sas():
    url = "https://acct01.blob.core.windows.net/raw/a%20b?" + SAS
    assert strip_query(url) == "https://acct01.blob.core.windows.net/raw/a%20b"
    assert strip_query("/local/path") == "/local/path"
    assert strip_query("http://127.0.0.1:1/devstoreaccount1/c/p?" + SAS + "#frag") == \
        "http://127.0.0.1:1/devstoreaccount1/c/p"


def test_sas_signature_redacted_in_free_text():
    text = f"GET https://acct01.blob.core.windows.net/raw?{SAS} failed"
    out = redact_text(text)
    assert "Zm9vYmFy" not in out and f"sig={REDACTED}" in out


def test_connection_string_and_account_key_redacted():
    cs = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=x"
    out = redact_text(f"using {cs}")
    assert DEV_KEY not in out and DEV_KEY[:20] not in out
    assert "AccountName=devstoreaccount1" in out
    assert DEV_KEY not in redact_text(f"key is {DEV_KEY} here")


def test_hadoop_settings_redacted():
    out = redact_text(f"fs.azure.account.key.acct01.dfs.core.windows.net={DEV_KEY} "
                      "fs.azure.sas.fixed.token.acct01.dfs.core.windows.net: sp=rl&sig=abc123")
    assert DEV_KEY not in out and "abc123" not in out


def test_registry_redacts_registered_values_anywhere():
    reg = SecretRegistry()
    reg.add(SAS, DEV_KEY, None, "")
    text = f"a {SAS} b {DEV_KEY} c {DEV_KEY.replace('==', '')}"
    out = reg.redact(text)
    assert SAS not in out and DEV_KEY not in out
    assert "Eby8vdM02x" not in out


def test_short_values_not_registered():
    reg = SecretRegistry()
    reg.add("ab")
    assert reg.redact("ab cab") == "ab cab"


def test_settings_hide_secrets_and_the_edge_registers_them():
    from executor.redaction import SECRETS
    from executor.settings import Settings, env_secrets

    key = "k" * 20 + "unit-test-account-key"
    env = {"NUVYN_AZURE_ACCOUNT_KEY": key,
           "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;SharedAccessSignature=sp=r&sig=zzzzzzzz"}
    s = Settings.from_env(env)
    assert key not in repr(s) and "zzzzzzzz" not in repr(s) and key not in str(s.azure_account_key)
    assert s.azure_account_key is not None and s.azure_account_key.get_secret_value() == key
    assert key in SECRETS.redact(f"x {key} y")  # building settings registers nothing (no global writes)
    SECRETS.add(*env_secrets(env))  # what main, cli and the API server do at startup
    assert key not in SECRETS.redact(f"x {key} y") and "zzzzzzzz" not in SECRETS.redact("sig=zzzzzzzz")
