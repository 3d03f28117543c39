"""DATABASE__URL as providers print it, made into the URL SQLAlchemy needs.

Heroku, Render, Railway, Supabase and Neon hand out `postgres://` or `postgresql://`
URLs with libpq's query parameters (`sslmode=require`, `channel_binding=require`); the
gateway talks to PostgreSQL through asyncpg, which SQLAlchemy hands every query
parameter as a connect() keyword, so each is translated or refused here, in one line.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}
SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# libpq file parameters asyncpg reads from the environment instead.
PG_VARIABLES = {
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
}


def normalise_database_url(url: str) -> str:
    """`postgres://u@h/db?sslmode=require` -> `postgresql+asyncpg://u@h/db?ssl=require`.

    Raises ValueError (one line, no password) for anything else than PostgreSQL or SQLite.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in SQLITE_SCHEMES:
        return "sqlite+aiosqlite:" + url.strip().split(":", 1)[1]
    if scheme not in POSTGRES_SCHEMES or not parts.netloc:
        raise ValueError(
            "expected postgresql://user:password@host:5432/db or sqlite:///path/to/file.db"
        )
    query: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("sslmode", "ssl"):
            if value not in SSL_MODES:
                raise ValueError(f"{name}={value} is not one of {', '.join(sorted(SSL_MODES))}")
            query.append(("ssl", value))  # asyncpg's connect(ssl=...) takes libpq's modes
        elif name == "channel_binding":
            # asyncpg negotiates SCRAM itself and has no such keyword (Neon's URLs carry it).
            continue
        elif name == "prepared_statement_cache_size":
            query.append((name, value))  # SQLAlchemy's asyncpg option (0 behind pgbouncer)
        elif name in PG_VARIABLES:
            raise ValueError(f"set {PG_VARIABLES[name]} instead of the URL parameter {name}")
        else:
            raise ValueError(
                f"the URL parameter {name} is not supported "
                "(only sslmode and prepared_statement_cache_size)"
            )
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg", query=urlencode(query)))
