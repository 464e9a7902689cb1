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

# After answering, gunicorn drains what the application left of a request body before it reads the next request
# from a kept-alive connection, but only up to this much; past it, it closes the connection instead. The answer has
# already told the client to keep it open by then, so the client's next request on it fails ("Server disconnected
# without sending a response"). The API refuses a body over 64 KiB (413) without reading it.
DRAIN_ALLOWANCE_BYTES = 64 * 1024


def pre_request(worker, req):
    """Answer `Connection: close` (and close cleanly) to a request whose body may be left unread beyond what
    gunicorn drains: one of that size or more, or chunked (its size is unknown until read)."""
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" or (name == "CONTENT-LENGTH" and _at_least(value, DRAIN_ALLOWANCE_BYTES)):
            req.force_close()
            return


def _at_least(length: str, limit: int) -> bool:
    return not length.isdigit() or len(length) > 18 or int(length) >= limit


def post_worker_init(worker):
    """Waits (`Prefer: wait`) may hold only part of this worker's threads: the rest stay free for plain requests."""
    from apps.commands.waiting import share_threads

    share_threads(worker.cfg.threads)
