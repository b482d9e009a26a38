"""The executor's small exception hierarchy. Messages name the bad value and what to do."""

from __future__ import annotations


class ExecutorError(Exception):
    """Base class of every error the executor raises on purpose."""


class PayloadError(ExecutorError):
    """The job payload or command line is invalid (exit code 2, nothing written)."""


class SettingsError(ExecutorError):
    """A setting (environment variable) has an invalid value."""


class SourceError(ExecutorError):
    """The data source cannot be listed or opened (missing path, auth refused, ...)."""


class TableExtractionError(ExecutorError):
    """One table could not be extracted; the run goes on with the other tables."""


class MetadataStoreError(ExecutorError):
    """The Delta metadata tables cannot be created, migrated, written or read."""


class QueryError(ExecutorError):
    """A metadata query was called with invalid arguments."""
