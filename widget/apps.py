from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "widget"
    verbose_name = "Messenger widget"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from widget.http import cors_origin_allowed

        check_request_enabled.connect(cors_origin_allowed, dispatch_uid="widget.cors_origin_allowed")
