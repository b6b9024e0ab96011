# TicketBooth API: gunicorn serving ticketbooth.wsgi:app as a non-root user.
# Configure with TICKETBOOTH_* variables (e.g. TICKETBOOTH_AUTH__MODE=jwks) or a mounted TOML file named by
# TICKETBOOTH_CONFIG; the embedded backend keeps its data in the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 ticketbooth \
    && useradd --system --uid 10001 --gid ticketbooth --home-dir /data --shell /usr/sbin/nologin ticketbooth \
    && install -d -m 0700 -o ticketbooth -g ticketbooth /data

WORKDIR /src
COPY . .
# The postgresql extra: the audit store of several instances (audit.database_url, docs/operations.md).
RUN pip install '.[postgresql]' && rm -rf /src

WORKDIR /data
USER ticketbooth

ENV TICKETBOOTH_DATA_DIR=/data \
    TICKETBOOTH_SERVER__HOST=0.0.0.0 \
    TICKETBOOTH_SERVER__PORT=8080 \
    GUNICORN_CMD_ARGS="--workers 2 --threads 8 --worker-class gthread --timeout 60 --access-logfile -"

VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

# ticketbooth.gunicorn_conf: /metrics sums all workers, log_format and the redacting access log apply.
CMD ["gunicorn", "-c", "python:ticketbooth.gunicorn_conf", "--bind", "0.0.0.0:8080", "ticketbooth.wsgi:app"]
