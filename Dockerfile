# Model Library Migrator — HTTP API image.
# Build: docker build -t model-migrate .
# Run:   see README ("Docker"): the token is required because the server binds 0.0.0.0.
FROM python:3.11-slim

# /data is the v2 app's data folder (its hikaze_model_manager.db and images/): mount it there.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODEL_MIGRATE_DATA_DIR=/data \
    MODEL_MIGRATE_IMPORT_ROOTS=/legacy

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY workflows ./workflows
RUN pip install . && mkdir -p /data /legacy && chown 10001:10001 /data

USER 10001:10001
VOLUME ["/data", "/legacy"]
EXPOSE 8765

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8765/api/health', timeout=4).status == 200 else 1)"]

CMD ["model-migrate", "serve", "--host", "0.0.0.0", "--port", "8765"]
