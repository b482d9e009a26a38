"""Operator tools: dry run, progress, run summaries and the inspection commands of the CLI."""
