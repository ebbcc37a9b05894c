from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        # Importing the steps package registers every built-in step (the engine imports none
        # of its plugins): the web process, the worker and the tests find them all.
        import automations.steps  # noqa: F401
        from automations.runs import tasks  # noqa: F401  (registered: queue sends them by name)
        from automations.steps.email import remote as email_remote

        # The email step imports no Django: it asks this hook, read at each check, so that
        # the operator's setting (and a test's override) holds when a workflow is saved.
        email_remote.remote_content_allowed = lambda: bool(
            getattr(settings, "PYQ_EMAIL_ALLOW_REMOTE_CONTENT", False)
        )
