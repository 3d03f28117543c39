"""Settings: environment variables with `__` nesting (DATABASE__URL, ...), optional .env.

Two profiles. `dev` runs on embedded defaults (SQLite file, in-process cache, bus and
rate limiter) with GraphiQL and introspection on. `prod` refuses to start without a
strong secret key, PostgreSQL and Redis, listing every unmet requirement at once. A bad
value stops start-up with one line naming the variable (`SettingsError`). The model
(`model.py`) documents every setting; `reference.py` renders it as
docs/configuration.md and .env.example.
"""

from gateway.settings.loading import SettingsError, load_settings, unknown_variables
from gateway.settings.model import (
    MIN_SECRET_BYTES,
    AuditSettings,
    CacheSettings,
    DatabaseSettings,
    EventsSettings,
    GraphQLSettings,
    HealthSettings,
    IdempotencySettings,
    JobsSettings,
    MailSettings,
    MetricsSettings,
    Profile,
    RateLimitSettings,
    RealtimeSettings,
    RedisSettings,
    RevocationSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
    TelemetrySettings,
    UpstreamSettings,
    upstream_problem,
)

__all__ = [
    "MIN_SECRET_BYTES",
    "AuditSettings",
    "CacheSettings",
    "DatabaseSettings",
    "EventsSettings",
    "GraphQLSettings",
    "HealthSettings",
    "IdempotencySettings",
    "JobsSettings",
    "MailSettings",
    "MetricsSettings",
    "Profile",
    "RateLimitSettings",
    "RealtimeSettings",
    "RedisSettings",
    "RevocationSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "TelemetrySettings",
    "UpstreamSettings",
    "load_settings",
    "unknown_variables",
    "upstream_problem",
]
