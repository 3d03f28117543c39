"""Limits on what a caller may spend: request quotas (sliding windows in Redis or memory),
the per-caller cost budget of GraphQL operations, and the login throttle.
"""
