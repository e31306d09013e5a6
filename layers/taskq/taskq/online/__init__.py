"""Online tasks (spec §4.2-4.3): a producer's wait on its blocking or streaming task.

`schedule` says when to poll next (pure), `sse` formats Server-Sent Events (pure), `watch` is
one producer's wait: each poll reads the task and its events and says how the wait ends.
"""
