"""The REST API server's pieces. executor/api_server.py is the entry point; this package holds:

settings.py   ApiSettings (typed, from the environment)
models.py     request/response models (the OpenAPI schema)
validation.py pure checks of a create-job body -> the executor payload
store.py      SQLite job store (survives restarts; idempotency keys)
launchers.py  LocalLauncher (child process) and DatabricksLauncher (Jobs API run_now)
service.py    JobService: create, follow, recover jobs
app.py        the FastAPI app: auth, body limit, error mapping, routes
"""
