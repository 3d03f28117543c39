"""The example upstream: the exchange-rate service behind `Item.priceIn(currency)`.

`service.py` is the service itself, a small Starlette app over a fixed rate table,
which `make run` serves in process when `UPSTREAMS__EXCHANGE_RATES__URL` is unset, and
which tests run on the loopback, slow or failing. What the gateway asks of it is
declared with the field (schema/exchange_rates.py), not written here.
"""
