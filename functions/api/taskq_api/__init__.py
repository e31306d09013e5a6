"""The API function: every /v1 route, served by one powertools REST resolver."""
