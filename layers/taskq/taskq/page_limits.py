"""The largest page of each list route, apart from the services that enforce them: the API's
routes declare them at import, and importing those services there would load the files' and
batches' domain code on every cold start, a take's included (docs/performance.md)."""

MAX_FILES_PAGE = 10_000
MAX_BATCHES_PAGE = 100
