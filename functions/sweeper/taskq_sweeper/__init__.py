"""The sweeper function: ends leases and expires waiting tasks, every minute."""
