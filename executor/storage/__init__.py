"""The four Delta metadata tables: DDL, migrations, idempotent appends and queries."""
