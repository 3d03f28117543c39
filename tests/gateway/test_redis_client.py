"""The Redis client the composition root builds: bounded sockets, health checks, retries."""

from __future__ import annotations

from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.container import redis_client
from gateway.settings import RateLimitSettings, RedisSettings


async def test_the_client_fails_fast_checks_idle_connections_and_retries() -> None:
    client = redis_client(RedisSettings(url="redis://127.0.0.1:6399/0"))
    assert client is not None
    try:
        options = client.connection_pool.connection_kwargs
        retry = options["retry"]
        assert {
            name: options[name]
            for name in (
                "socket_timeout",
                "socket_connect_timeout",
                "socket_keepalive",
                "health_check_interval",
            )
        } == {
            "socket_timeout": 0.25,
            "socket_connect_timeout": 0.25,
            "socket_keepalive": True,
            "health_check_interval": 30,
        }
        assert (retry.get_retries(), isinstance(retry._backoff, ExponentialWithJitterBackoff)) == (
            2,
            True,
        )
        assert {RedisConnectionError, RedisTimeoutError} <= set(retry._supported_errors)
    finally:
        await client.aclose()


def test_a_socket_gives_up_before_the_rate_limiter_stops_waiting() -> None:
    # A hung Redis is a socket timeout (which the retry acts on) before it is the
    # limiter's own bound (which cancels the call and falls back to memory).
    assert RedisSettings().socket_timeout_seconds < RateLimitSettings().storage_timeout_seconds


def test_without_a_url_there_is_no_client() -> None:
    assert redis_client(RedisSettings()) is None
