"""The REST API server's pieces. executor/api_server.py is the entry point; this package holds:

models.py     request/response models (the OpenAPI schema)
validation.py pure checks of a create-job body -> the executor payload
store.py      SQLite job store (survives restarts; idempotency keys)
launchers.py  LocalLauncher (child process) and DatabricksLauncher (Jobs API run_now)
service.py    JobService: create, follow, cancel, list, recover jobs; the queue bound
sources.py    SourceGate: the door check of a job's source (roots, emulator hosts, credential accounts)
http_protocol.py  uvicorn's h11 protocol: header and body timeouts, head size bound, /health under load
app.py        the FastAPI app: auth, body limit, finite JSON numbers, error mapping, routes
"""
