"""The example upstream: exchange rates for `Item.priceIn(currency)`.

`http.py` is the adapter of the domain's `ExchangeRates` port (one `GET /rates` for
every pair a request needs); `service.py` is the exchange-rate service itself, a small
Starlette app over a fixed rate table, which `make run` serves in process when
`EXCHANGE_RATES__URL` is unset, and which tests run on the loopback, slow or failing.
"""
