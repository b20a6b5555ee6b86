"""The container's health check (ops.healthcheck, the Dockerfile's HEALTHCHECK) against a real server that
serves only the install's own host name, as production's ALLOWED_HOSTS makes it."""

import urllib.error
import urllib.request

import pytest

from ops.healthcheck import health_host, main


@pytest.mark.parametrize(
    ("allowed", "host"),
    [("parley.example.com", "parley.example.com"), (" .example.com , x.test", "example.com"), ("*", "localhost"),
     ("", "localhost"), ("*,parley.example.com", "parley.example.com")],
)  # fmt: skip
def test_the_check_names_a_host_the_install_serves(allowed, host):
    assert health_host(allowed) == host


def test_the_check_passes_on_a_server_that_refuses_other_hosts(live_server, settings, monkeypatch):
    settings.ALLOWED_HOSTS = ["parley.example.com"]
    url = f"{live_server.url}/healthz"
    with pytest.raises(urllib.error.HTTPError) as bare:  # what the Dockerfile's check used to send
        urllib.request.urlopen(url, timeout=4)  # noqa: S310 - the test's own server
    assert bare.value.code == 400
    monkeypatch.setenv("ALLOWED_HOSTS", "parley.example.com")
    assert main(url) == 0
    monkeypatch.setenv("ALLOWED_HOSTS", "other.example.com")
    assert main(url) == 1
