"""Where files come from: parsed locations, listings and readers (local, DBFS, Azure)."""
