import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyq_site.settings")
application = get_wsgi_application()

from pyq_site.memory import apply_web_memory_limit  # noqa: E402  (needs the settings)

apply_web_memory_limit()  # PYQ_WEB_MAX_MEMORY_MB, whichever server loads this module
