"""Who is calling: bearer tokens (issue, verify, refresh, revoke), password hashing, and
the request's identity (`Principal`) read from the `Authorization` header.
"""
