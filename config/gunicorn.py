"""gunicorn settings shared by `make run` (Procfile) and the Docker image: `gunicorn -c config/gunicorn.py ...`."""

import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# gthread: a request long-polling for up to 30 s (Prefer: wait) holds one thread, not a whole worker process.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = 60
graceful_timeout = 40  # in-flight long-polls finish on shutdown
accesslog = "-"
# One JSON line per request, like the application's own logs.
access_log_format = (
    '{"ts": "%(t)s", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": "%(B)s", "duration_ms": %(M)s}'
)
