"""The container's health check (the Dockerfile's HEALTHCHECK): GET /healthz on this machine with a Host
header the install serves. Django answers 400 to a Host outside ALLOWED_HOSTS, so a bare request to
127.0.0.1 would call a healthy container unhealthy. No Django import: it runs every 30 seconds.

    python -m ops.healthcheck [URL]      exit 0 when /healthz answers 200, else 1
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def health_host(allowed_hosts: str) -> str:
    """The first host ALLOWED_HOSTS names (".example.com" → "example.com"); localhost when it names none."""
    for entry in allowed_hosts.split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main(url: str = DEFAULT_URL) -> int:
    request = urllib.request.Request(url, headers={"Host": health_host(os.environ.get("ALLOWED_HOSTS", ""))})  # noqa: S310 - our own URL
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
