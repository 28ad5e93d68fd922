"""OpenAI Batch and list objects for providers whose jobs are Google-style REST resources
(Vertex AI's batch prediction jobs, Fireworks' batch inference jobs): RFC 3339 times, page tokens
for OpenAI's ``limit``/``after``, and the list answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote

from gateway.errors import InvalidRequest

__all__ = [
    "ENDED_AT",
    "object_list",
    "page_query",
    "unix_time",
]

#: The OpenAI timestamp a final batch status sets (from the job's end or update time).
ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}


def unix_time(value: object) -> int | None:
    """Unix seconds of an RFC 3339 timestamp (``2024-05-01T10:00:00.123Z``); ``None`` otherwise."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        return None


def page_query(query: str, largest: int) -> str:
    """``pageSize`` and ``pageToken`` for OpenAI's ``limit`` (1 to ``largest``, 20 by default) and
    ``after`` (the ``next_page_token`` of the previous page); a 400 for another limit."""
    asked = parse_qs(query)
    limit = (asked.get("limit") or ["20"])[0]
    if not limit.isdigit() or not 1 <= int(limit) <= largest:
        raise InvalidRequest(
            f"'limit' must be a number from 1 to {largest}.", param="limit", code="invalid_limit"
        )
    after = (asked.get("after") or [""])[0]
    return f"pageSize={limit}" + (f"&pageToken={quote(after, safe='')}" if after else "")


def object_list(items: list[dict[str, Any]], found: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI list of ``items``; the provider's ``nextPageToken`` (in ``found``) is given back as
    ``next_page_token``, to send as ``after`` for the next page."""
    token = found.get("nextPageToken")
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": bool(token),
        "next_page_token": token or None,
    }
