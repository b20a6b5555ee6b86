"""Browsers ask every page's site for /favicon.ico: Parley answers with its icon (whitenoise, from public/)
instead of a 404 in the logs, and the admin's pages link it."""

import io

import pytest
from django.test import Client
from PIL import Image


def test_favicon_is_served_as_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    icon = Image.open(io.BytesIO(body))
    assert icon.format == "ICO"
    assert {(16, 16), (32, 32)} <= icon.info["sizes"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/contacts/contact/"])
def test_admin_pages_link_the_favicon(admin_client, path):
    page = (Client() if path == "/admin/login/" else admin_client).get(path)  # the login page: signed out
    assert page.status_code == 200
    assert '<link rel="icon" href="/favicon.ico"' in page.content.decode()
