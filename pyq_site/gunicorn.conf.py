"""gunicorn settings for Pyq's web server in production (README "Production").

    gunicorn -c pyq_site/gunicorn.conf.py pyq_site.wsgi

or ``manage.py pyq_run --server gunicorn`` (PYQ_WEB_SERVER=gunicorn). Every value can be
changed with the PYQ_WEB_* variables below; gunicorn's own GUNICORN_CMD_ARGS and command
line options win over this file.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a whole number.") from None


bind = os.environ.get("PYQ_ADDRESS", "127.0.0.1:8000")
wsgi_app = "pyq_site.wsgi:application"
# Web processes only render pages and store uploads (models run in the workers): a few
# synchronous processes per core are enough.
workers = _int("PYQ_WEB_WORKERS", min(2 * (os.cpu_count() or 1) + 1, 8))
threads = 1
# An upload of PYQ_MAX_FILES_PER_UPLOAD files is inspected in the request: allow for it, but
# a request past this is killed and its process replaced.
timeout = _int("PYQ_WEB_TIMEOUT", 120)
graceful_timeout = 30
keepalive = 5
# Request line and headers are bounded before Django sees them (bodies are bounded by
# pyq_site/limits.py and by the reverse proxy).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# Memory hygiene: each process is replaced after about this many requests (with jitter, so
# that they do not all restart together); the hard cap is PYQ_WEB_MAX_MEMORY_MB.
max_requests = _int("PYQ_WEB_MAX_REQUESTS", 1000)
max_requests_jitter = max(1, max_requests // 10)
# Behind a reverse proxy, trust its X-Forwarded-* headers only from loopback by default.
forwarded_allow_ips = os.environ.get("PYQ_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("PYQ_LOG_LEVEL", "info").lower()
umask = 0o077  # files the server writes are its user's only (pyq_site/security.py)


def post_fork(server, worker) -> None:  # gunicorn's hook signature
    """Each web process gets the memory cap PYQ_WEB_MAX_MEMORY_MB (pyq_site/memory.py)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyq_site.settings")
    from pyq_site.memory import apply_web_memory_limit

    apply_web_memory_limit()
