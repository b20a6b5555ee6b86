import pytest
from django.contrib.auth import get_user_model


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests render templates without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _ingest_queue_off(settings):
    # Tests of everything else read the rows a first ping makes right after it: they run with new
    # visitors written directly. tests/tracking/test_ingest_queue.py turns the queue on (PostgreSQL +
    # Redis) and tests it, races included.
    settings.PARLEY_INGEST_QUEUE = False


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def website(db):
    """The website most tests embed the widget on: "Shop" at ORIGIN, whose owner switched identity
    verification off (new websites enforce it), so tests can identify users by a bare user_id or email."""
    from tests.tracking.factories import WebsiteFactory
    from tracking.models import Website

    return WebsiteFactory(name="Shop", identity_verification=Website.IdentityVerification.OFF)


@pytest.fixture
def teammate(db):
    return get_user_model().objects.create_user(
        "agent", "agent@parley.test", "correct-horse-battery", is_staff=True, first_name="Alex"
    )


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("boss", "boss@parley.test", "correct-horse-battery")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


pytest_plugins = ["tests.celery_support"]
