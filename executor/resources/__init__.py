"""Data files shipped in the wheel (no code): log4j2.properties, the local Spark JVM's log
configuration (executor.logging_setup.log4j2_properties). A package of its own so that setuptools
ships it as declared, not by the namespace-package rule it warns will stop including it."""
