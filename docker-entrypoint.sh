#!/bin/sh
# Entrypoint of the Vernost image: one role per container.
set -e
case "${1:-web}" in
  web)     exec gunicorn --bind 0.0.0.0:8000 --workers "${WEB_WORKERS:-4}" --worker-class gthread --keep-alive 30 \
                --threads "${WEB_THREADS:-8}" --access-logfile - \
                --logger-class app.access_log.RedactingLogger wsgi:app ;;
  worker)  shift; exec python -m jobs.worker "$@" ;;
  cron)    exec rq cron jobs.cron --url "$REDIS_URL" -P . ;;
  migrate) flask --app wsgi db upgrade
           # Grant the app's non-owner role access when it is named (PostgreSQL, RLS in force).
           if [ -n "${APP_DB_ROLE:-}" ]; then flask --app wsgi db-roles grant "$APP_DB_ROLE"; fi ;;
  *)       exec "$@" ;;
esac
