# harbor-bot: one image for every command (`web` by default; `run`, `set-webhook`, `doctor`, and the
# sandbox stand-ins for a trial: see compose.yaml and README "Operating it").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY sandbox ./sandbox
RUN pip install ".[postgres]" && rm -rf /src

# Not root: the bot needs no privilege, only a working directory of its own (a SQLite file, if used).
RUN useradd --create-home --uid 10001 harbor
USER harbor
WORKDIR /home/harbor

EXPOSE 8080
# SIGTERM (what `docker stop` sends) finishes the updates in hand and exits 0.
CMD ["python", "-m", "bot", "web"]
