"""`make bench`: the gateway under load against a seeded Postgres (issue 7). Not tests."""
