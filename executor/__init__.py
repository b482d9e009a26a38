"""nuvyn-executor: metadata extraction for data lakes, as a Databricks Job.

Nothing runs at import time: no Spark session, no logging set-up, no network.
"""

__version__ = "2.0.0"

__all__ = ["__version__"]
