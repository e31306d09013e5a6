"""The dispatcher: results to producers (callbacks) and queue counters, from the Tasks stream."""
