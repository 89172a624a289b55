"""nio's client with sync and ``/messages`` answers screened before nio parses them."""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from nio import AsyncClient, RoomMessagesResponse, SyncResponse

from bot.events import Quarantined
from bot.shapes import quarantined, screen_messages, screen_sync


class ScreeningClient(AsyncClient):  # type: ignore[misc]  # nio has no type stubs
    """nio's client, but sync and ``/messages`` answers are screened before nio parses them.

    A room member chooses every event's content; nio's parser and room state must
    not see shapes that make them raise (bot/shapes.py). What is removed is kept in
    ``quarantined`` until the gateway collects it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quarantined: list[Quarantined] = []

    async def create_matrix_response(
        self,
        response_class: type,
        transport_response: aiohttp.ClientResponse,
        data: tuple[Any, ...] | None = None,
        save_to: os.PathLike[str] | None = None,
    ) -> Any:
        screened = response_class in (SyncResponse, RoomMessagesResponse)
        if not screened or transport_response.status != 200:
            return await super().create_matrix_response(
                response_class, transport_response, data, save_to
            )
        parsed = await self.parse_body(transport_response)
        parser: Any = response_class
        if response_class is SyncResponse:
            screen_sync(parsed, self.quarantined.append)
        else:
            room_id = str(data[0]) if data else ""
            screen_messages(parsed, room_id, self.quarantined.append)
        try:
            response = parser.from_dict(parsed, *(data or ()))
        except Exception:
            if response_class is not SyncResponse:
                raise
            # A shape the screen does not know yet: give up only the rooms nio trips on.
            self._drop_unparsable_rooms(parsed)
            response = parser.from_dict(parsed, *(data or ()))
        response.transport_response = transport_response
        return response

    def _drop_unparsable_rooms(self, parsed: dict[str, Any]) -> None:
        rooms = parsed.get("rooms")
        if not isinstance(rooms, dict):
            return
        for section, by_room in rooms.items():
            if not isinstance(by_room, dict):
                continue
            for room_id in list(by_room):
                alone = {"next_batch": "", "rooms": {section: {room_id: by_room[room_id]}}}
                try:
                    SyncResponse.from_dict(alone)
                except Exception as exc:
                    del by_room[room_id]
                    self.quarantined.append(
                        quarantined({}, room_id, f"Sync: {type(exc).__name__}", event_type="room")
                    )
