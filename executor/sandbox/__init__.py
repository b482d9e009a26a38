"""Native readers run isolated: worker processes decode file contents (pyarrow, fastavro) so that a
file that crashes, hangs or eats memory in native code fails its table, not the run.

The API is executor.sandbox.pool (ReaderSandbox, SandboxSettings, the errors); worker.py is the
worker process and protocol.py the wire between them. This file imports nothing, so a worker's
`import executor.sandbox.worker` does not pay for the parent's side.
"""
