"""The ASGI entry point for servers: `uvicorn gateway.asgi:app`."""

from gateway.app import create_app
from gateway.observability.logging import configure_logging
from gateway.settings import load_settings

settings = load_settings()
# Once per process, before the app logs anything: JSON lines in prod, console in dev.
configure_logging(settings.profile, settings.log_level)
app = create_app(settings)
