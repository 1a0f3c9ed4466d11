# Rackpilot image: web (uvicorn workers), Celery workers and beat all run from it (see docker-compose.yml).
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml ./
COPY rackpilot ./rackpilot
COPY inventory ./inventory
COPY workflows ./workflows
COPY builds ./builds
COPY netboot ./netboot
COPY tinkerbell ./tinkerbell
RUN pip install --no-cache-dir .
COPY . .
RUN python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
    tinkerbell/agent_grpc/workflow.proto
COPY --from=assets /src/node_modules ./node_modules
RUN python scripts/vendor_assets.py && rm -rf node_modules \
    && SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
# The web tier: WEB_CONCURRENCY uvicorn processes (one per core unless set), each capping an
# incoming WebSocket message at AGENT_MAX_FRAME_BYTES (rackpilot/webserver.py).
ENV HOST=0.0.0.0 PORT=8000
CMD ["python", "-m", "rackpilot.webserver"]
