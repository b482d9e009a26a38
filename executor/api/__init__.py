"""The REST API server's pieces. executor/api_server.py is the entry point; this package holds:

app.py        create_app: the FastAPI app from the routers, dependencies, error handlers, middlewares
routers/      one router per resource: health, jobs (create, get, cancel, list), workflows (metadata reads)
deps.py       FastAPI dependencies: the services of a route, the bearer scheme, the strict query string
errors.py     every error as {"error": ...}: exceptions -> status codes, validation, unexpected errors
middleware.py ASGI middlewares: Host check, bearer auth, concurrency limit, body limit
ports.py      typed ports (Protocols): JobRepository, Launcher, MetadataReader
statuses.py   the job statuses, and the rule from a run's exit code and status to a job's
models.py     request/response models (the OpenAPI schema)
validation.py pure checks of a create-job body -> the executor payload
store.py      SQLite job store (survives restarts; idempotency keys)
launchers.py  LocalLauncher (child process, outcome from its result file) and DatabricksLauncher (run_now)
service.py    JobService: create, follow, cancel, list, recover jobs; the queue bound
reads.py      the read pool (bounded, timed) and the MetadataReader over executor.storage.queries
sources.py    SourceGate: the door check of a job's source (roots, emulator hosts, credential accounts)
http_protocol.py  uvicorn's h11 protocol: header and body timeouts, head size bound, /health under load
"""
