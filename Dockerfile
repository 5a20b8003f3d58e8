# supportbot images. Two targets:
#   docker build --target runtime -t supportbot .        serves a bundle: no torch, ~0.5 GB
#   docker build --target train   -t supportbot-train .  adds torch + the training stack
#
# Run the bot (bundles, index and the SQLite database live in the /data volume):
#   docker run -p 8080:8080 -v supportbot-data:/data -e SUPPORTBOT_ADMIN_TOKEN=... supportbot
# Train and export a bundle into the same volume:
#   docker run -v supportbot-data:/data supportbot-train supportbot train joint ...

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SUPPORTBOT_DATA_DIR=/data \
    SUPPORTBOT_HOST=0.0.0.0 \
    SUPPORTBOT_PORT=8080
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY training ./training
COPY export ./export
# The base install only: onnxruntime, tokenizers, faiss, aiohttp, python-telegram-bot, SQLAlchemy.
RUN pip install . \
    && useradd --create-home --uid 10001 supportbot \
    && mkdir -p /data && chown supportbot /data
USER supportbot
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
CMD ["supportbot", "serve"]

FROM runtime AS train
USER root
# The CPU build of torch first (pinned like the project): an unpinned torch pulls CUDA.
# For a GPU image, replace the index URL with the matching CUDA wheel index.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install "torch==2.13.0" --index-url "${TORCH_INDEX}" \
    && pip install ".[train]"
USER supportbot
