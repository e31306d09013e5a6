"""The online function: the routes that wait (spec §4.2), as a small ASGI app behind the Lambda
Web Adapter with response streaming. Every rule lives in the taskq layer."""
