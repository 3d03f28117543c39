"""Each subscription result names its event: `extensions.eventId`, the id to resume after."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension

from resolvers.subscriptions import delivered_event_id


class EventIds(SchemaExtension):
    """Adds `eventId` to the extensions of a result a subscription event produced.

    Every payload type has a place for it this way, `orderPlaced: Order!` and the
    declared entities' subscriptions included, without a field added to those types.
    """

    def get_results(self) -> dict[str, Any]:
        event_id = delivered_event_id.get()
        return {} if event_id is None else {"eventId": event_id}
