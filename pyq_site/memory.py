"""A hard memory cap for the web server's processes (README "Security").

Workers are capped by Celery instead (CELERY_WORKER_MAX_MEMORY_PER_CHILD from
PYQ_WORKER_MAX_MEMORY_MB): a child over it is replaced after its task. A hard limit there
would also count the address space torch and onnxruntime reserve up front.

The web server gets RLIMIT_DATA (heap and private writable mappings: what Python, Pillow,
lxml and pdfium allocate), not RLIMIT_AS, which counts reserved but unused address space
too. Past it an allocation fails: Python raises MemoryError in that request, which the
upload inspector reports as a damaged file, instead of the machine swapping for everyone.
"""

from __future__ import annotations

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

MB = 1024 * 1024


def apply_memory_limit(mb: int) -> bool:
    """Cap this process's data memory at ``mb`` MiB (0: no cap); processes it starts
    inherit the cap, each for itself. Never raises the hard limit an operator set.
    Returns whether a cap was set."""
    if mb <= 0 or resource is None:
        return False
    limit = mb * MB
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    return True


def apply_web_memory_limit() -> bool:
    """The web server's cap, PYQ_WEB_MAX_MEMORY_MB (for a gunicorn ``post_fork`` hook too)."""
    from django.conf import settings

    return apply_memory_limit(settings.PYQ_WEB_MAX_MEMORY_MB)
