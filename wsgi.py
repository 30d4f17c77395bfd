"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app

app = create_app()
if app.config.get("ENV_NAME") == "production":
    # Behind one reverse proxy: trust its X-Forwarded-For/Proto so throttling sees real clients.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
