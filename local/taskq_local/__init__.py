"""Running taskq without AWS: tables from template.yaml, the local server and the CLI."""
