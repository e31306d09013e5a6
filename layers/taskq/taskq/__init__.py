"""taskq: the domain of the task-queue service (models, strategies, store, service).

Shipped to every function as the `TaskqLayer` Lambda layer.
"""
