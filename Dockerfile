# One image for every role: `web` (gunicorn), `worker`, `cron` or `migrate`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VERNOST_ENV=production
WORKDIR /srv/vernost

COPY pyproject.toml README.md ./
COPY app ./app
COPY tenants ./tenants
COPY jobs ./jobs
RUN pip install --no-cache-dir . && rm -rf build
COPY migrations ./migrations
COPY scripts ./scripts
COPY babel.cfg wsgi.py ./
COPY docker-entrypoint.sh /usr/local/bin/vernost
RUN python scripts/i18n.py compile && chmod +x /usr/local/bin/vernost \
    && useradd --system --home /srv/vernost vernost
USER vernost
EXPOSE 8000
ENTRYPOINT ["vernost"]
CMD ["web"]
