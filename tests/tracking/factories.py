import hashlib
import hmac

import factory

from tracking.models import Website

ORIGIN = "https://shop.example"


class WebsiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Website

    name = factory.Sequence(lambda n: f"Site {n}")
    allowed_origins = factory.LazyFunction(lambda: [ORIGIN])


def user_hash(website: Website, value: str) -> str:
    """What the site's server sends as `user_hash`: HMAC-SHA256 of the user id (or email) with its secret."""
    return hmac.new(website.identity_secret.encode(), value.encode(), hashlib.sha256).hexdigest()
