"""The API's routes, one router per resource: health, jobs, workflows (metadata reads)."""
