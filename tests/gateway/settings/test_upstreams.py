"""The upstreams map (`UPSTREAMS__<name>__*`): read from the environment per upstream, a bad
entry refused in one line naming its variable, a misspelt or moved variable warned about."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, UpstreamSettings, load_settings, unknown_variables
from tests.gateway.settings.refusals import refusal


def test_each_upstream_is_read_from_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAMS__EXCHANGE_RATES__URL", "http://rates:8100")
    monkeypatch.setenv("UPSTREAMS__EXCHANGE_RATES__KIND", "graphql")
    monkeypatch.setenv("UPSTREAMS__SHIPPING__RETRIES", "0")
    monkeypatch.setenv("UPSTREAMS__SHIPPING__BULKHEAD_SIZE", "3")
    settings = load_settings()
    assert settings.upstreams == {
        "exchange_rates": UpstreamSettings(url="http://rates:8100", kind="graphql"),
        "shipping": UpstreamSettings(retries=0, bulkhead_size=3),
    }
    # An upstream without an entry has the defaults.
    assert settings.upstream("reviews") == UpstreamSettings()


def test_a_bad_value_in_an_upstream_entry_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert refusal(monkeypatch, UPSTREAMS__SHIPPING__TIMEOUT_SECONDS="fast") == (
        "invalid setting UPSTREAMS__SHIPPING__TIMEOUT_SECONDS: Input should be a valid number, "
        "unable to parse string as a number (got 'fast')"
    )


def test_an_unknown_kind_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, UPSTREAMS__SHIPPING__KIND="soap") == (
        "invalid setting UPSTREAMS__SHIPPING__KIND: Input should be 'http' or 'graphql' "
        "(got 'soap')"
    )


def test_a_bulkhead_of_no_slots_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, UPSTREAMS__SHIPPING__BULKHEAD_SIZE="0") == (
        "invalid setting UPSTREAMS__SHIPPING__BULKHEAD_SIZE: Input should be greater than or "
        "equal to 1 (got '0')"
    )


def test_an_upstream_name_that_cannot_be_a_variable_is_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(upstreams={"Shipping-EU": {}})
    assert str(refused.value) == (
        "invalid setting UPSTREAMS__SHIPPING-EU: String should match pattern "
        "'^[a-z][a-z0-9]*(_[a-z0-9]+)*$' (got 'Shipping-EU')"
    )


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        (
            "EXCHANGE_RATES__URL",
            "EXCHANGE_RATES__URL is not a setting and is ignored "
            "(did you mean UPSTREAMS__EXCHANGE_RATES__URL?)",
        ),
        (
            "UPSTREAMS__SHIPPING__TIMEOUT_SECOND",
            "UPSTREAMS__SHIPPING__TIMEOUT_SECOND is not a setting and is ignored "
            "(did you mean UPSTREAMS__SHIPPING__TIMEOUT_SECONDS?)",
        ),
    ],
)
def test_a_moved_or_misspelt_upstream_variable_is_warned_about(name: str, warning: str) -> None:
    assert unknown_variables({name: "1"}, env_file=None) == [warning]


def test_every_upstream_variable_is_known() -> None:
    environ = {
        f"UPSTREAMS__SHIPPING__{field.upper()}": "1" for field in UpstreamSettings.model_fields
    }
    assert unknown_variables({**environ, "UPSTREAMS__REVIEWS": "{}"}, env_file=None) == []
