"""Payloads shared by mutations of every entity."""

from __future__ import annotations

import strawberry


@strawberry.type(description="The result of a delete: the id that no longer exists.")
class DeletePayload:
    deleted_id: strawberry.ID
