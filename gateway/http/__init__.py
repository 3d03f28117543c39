"""The HTTP edge: what every request meets before any GraphQL or REST work.

Request ids, client IPs behind trusted proxies, header maps, security headers, the access
log and metrics layer (`edge`), load shedding, the direct route to `/graphql`, vendored
front-end assets, and the health probes.
"""
