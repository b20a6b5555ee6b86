import pytest


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_cache_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": None, "cache": None, "broker": None}


@pytest.mark.django_db
def test_readyz_fails_when_the_cache_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    from django.core.cache import caches

    caches._settings = None  # rebuild the handler from the overridden settings
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "cache unreachable" in response.json()["checks"]["cache"]
