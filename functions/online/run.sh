#!/bin/sh
# The Lambda Web Adapter runs this (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap): one uvicorn process
# per execution environment, serving the online routes on the adapter's port.
exec python -m uvicorn --app-dir "$LAMBDA_TASK_ROOT" --host 127.0.0.1 --port "${AWS_LWA_PORT:-${PORT:-8080}}" \
  --no-access-log taskq_online.app:app
