"""Secrets (SAS tokens, account keys, connection strings) never survive redaction."""

from __future__ import annotations

import ast
import pathlib
import pickle

from executor.redaction import REDACTED, SECRETS, Redactor, Secret, redact_text, strip_query

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


def test_a_secret_is_redacted_from_its_construction_on():
    value = "plain-" + "Q" * 30 + "-constructed-secret"  # nothing a pattern would catch
    assert not SECRETS.knows(value) and SECRETS.redact(f"a {value} b") == f"a {value} b"
    secret = Secret(value)
    assert SECRETS.redact(f"a {value} b") == "a *** b"
    assert repr(secret) == "Secret('**********')" and str(secret) == "**********" and value not in f"{secret!r}"
    assert SECRETS.knows(value) and secret.get_secret_value() == value


def test_the_forms_a_secret_is_written_in_are_known_too():
    Secret("  ?sp=rl&sig=form-test-signature-value  ")
    assert SECRETS.knows("?sp=rl&sig=form-test-signature-value")
    assert SECRETS.knows("sp=rl&sig=form-test-signature-value")  # a SAS token with and without its '?'


def test_registered_values_redacted_anywhere_longest_first():
    Secret(SAS)
    Secret(DEV_KEY)
    text = f"a {SAS} b {DEV_KEY} c {DEV_KEY.replace('==', '')}"
    out = SECRETS.redact(text)
    assert SAS not in out and DEV_KEY not in out
    assert "Eby8vdM02x" not in out


def test_short_values_not_registered():
    Secret("ab")
    assert not SECRETS.knows("ab") and SECRETS.redact("ab cab") == "ab cab"


def test_a_secret_copied_to_another_process_is_known_there():
    secret = pickle.loads(pickle.dumps(Secret("pickled-secret-value-123")))
    assert secret.get_secret_value() == "pickled-secret-value-123"


def test_the_redactor_has_one_writer_secret_construction():
    """No public way to add a value, and no module but redaction.py calls the private one: a value is
    redacted when, and because, it is held as a Secret."""
    assert not [n for n in dir(Redactor) if not n.startswith("_") and n not in ("knows", "redact")]
    root = pathlib.Path(__file__).resolve().parents[2] / "executor"
    writers = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("_remember", "add", "_values") and \
                    isinstance(node.value, ast.Name) and node.value.id == "SECRETS":
                writers.append(f"{path.relative_to(root)}:{node.lineno}")
    assert writers == [str(pathlib.Path("redaction.py")) + f":{_remember_line()}"]


def _remember_line() -> int:
    path = pathlib.Path(__file__).resolve().parents[2] / "executor" / "redaction.py"
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if "SECRETS._remember(value)" in line)


def test_settings_hide_secrets_and_register_them_when_built():
    from executor.settings import Settings, load_secrets

    key = "k" * 20 + "unit-test-account-key"
    env = {"NUVYN_AZURE_ACCOUNT_KEY": key,
           "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;SharedAccessSignature=sp=r&sig=zzzzzzzz"}
    s = Settings.from_env(env)
    assert key not in repr(s) and "zzzzzzzz" not in repr(s) and key not in str(s.azure_account_key)
    assert s.azure_account_key is not None and s.azure_account_key.get_secret_value() == key
    assert key not in SECRETS.redact(f"x {key} y")  # a Secret field: known from the moment it was built
    other = "another-unit-test-account-key-0123456789"
    assert other in SECRETS.redact(f"x {other} y")
    secrets = load_secrets({"NUVYN_AZURE_ACCOUNT_KEY": other})  # what main, cli and the API server do first
    assert [type(v) for v in secrets] == [Secret] and other not in SECRETS.redact(f"x {other} y")
