"""Extraction: from a file listing to a MetadataResult. Never imports executor.storage."""
