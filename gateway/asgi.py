"""The ASGI entry point for servers: `uvicorn gateway.asgi:app`."""

import structlog

from gateway.app import create_app
from gateway.observability.logging import configure_logging
from gateway.settings import load_settings, unknown_variables

settings = load_settings()
# Once per process, before the app logs anything: JSON lines in prod, console in dev.
configure_logging(settings.profile, settings.log_level)
for warning in unknown_variables():
    structlog.get_logger("gateway.settings").warning(warning)
app = create_app(settings)
