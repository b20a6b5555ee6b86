from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tracking"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from tracking import integration
        from tracking.widget_http import cors_origin_allowed

        integration.connect()
        check_request_enabled.connect(cors_origin_allowed, dispatch_uid="tracking.cors_origin_allowed")
