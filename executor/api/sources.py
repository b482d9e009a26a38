"""The API's door check of a job's source (NUVYN_API_SOURCE_ROOTS, emulator hosts, credential
accounts). Pure: no connection is made, nothing is read. Raises SourceNotAllowed (403) or
PayloadError (400: a path the executor cannot read at all, e.g. ftp://)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from executor.errors import SourceError
from executor.settings import Settings
from executor.sources.azure import check_credential_target, credential_source
from executor.sources.location import HostNotAllowed, emulator_hosts, parse_location
from executor.sources.policy import SourceNotAllowed, SourcePolicy, check_credential_account, parse_accounts


class SourceGate:
    """Callable payload -> None, built once from the server's settings."""

    def __init__(self, roots: str | None, settings: Settings) -> None:
        self.policy = SourcePolicy.parse(roots)
        self.settings = settings
        self.emulator_hosts = emulator_hosts(settings.azure_connection_string, settings.azure_emulator_hosts)
        self.accounts = parse_accounts(settings.azure_credential_accounts)

    def __call__(self, payload: Mapping[str, Any]) -> None:
        try:
            location = parse_location(payload["data_source_path"], None, self.emulator_hosts)
        except HostNotAllowed as exc:
            raise SourceNotAllowed(str(exc)) from None
        self.policy.check(location)
        if not location.is_azure:
            return
        source = credential_source(location, self.settings)
        check_credential_account(location, source, self.accounts)
        try:
            check_credential_target(location, self.settings, source)
        except SourceError as exc:
            raise SourceNotAllowed(str(exc)) from None
