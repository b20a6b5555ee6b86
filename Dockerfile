# Parley's production image: one image for web, worker and beat (docker-compose.yml runs all three).
# Written for hosts with a Docker engine; CI does not build it (see docs/deployment.md).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    PROMETHEUS_MULTIPROC_DIR=/tmp/parley-metrics

# PROMETHEUS_MULTIPROC_DIR: the gunicorn workers of a container add their /metrics counts up there.
# postgresql-client: pg_dump/pg_restore/psql for `manage.py backup` / `restore` run inside the container.
# libmagic1: attachment types are read from the bytes with it (python-magic).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client libmagic1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system parley && useradd --system --gid parley --home-dir /app parley

WORKDIR /app
COPY . .
# Static files are collected into the image (whitenoise serves them); the key there is a throwaway.
RUN pip install -e . \
    && SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" PROMETHEUS_MULTIPROC_DIR= \
       python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /tmp/parley-metrics \
    && chown -R parley:parley /app/var /tmp/parley-metrics

USER parley
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "ops.healthcheck"]
# The web process; the worker and beat services of docker-compose.yml override the command.
CMD ["gunicorn", "-c", "config/gunicorn.py", "--bind", "0.0.0.0:8000", "config.wsgi"]
