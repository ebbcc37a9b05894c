from django.apps import AppConfig


class PyqSiteConfig(AppConfig):
    name = "pyq_site"
    verbose_name = "Pyq"

    def ready(self) -> None:
        from pyq_site import checks  # noqa: F401  (registers the system checks)
