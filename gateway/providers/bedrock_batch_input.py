"""OpenAI batch input (JSONL of ``{custom_id, method, url, body}``) → Bedrock batch records.

Each line becomes ``{"recordId": custom_id, "modelInput": <Converse request>}``: the body goes
through the same translation as ``/v1/chat/completions`` on Bedrock (``bedrock.converse_body``, passed in),
and
the job runs with ``modelInvocationType: Converse``, which AWS's batch docs say takes the Converse
request body for every model that Converse serves
(https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html). Portkey writes
each model family's InvokeModel body instead; Converse is one format for all of them.

Lines are translated as they arrive (a line is held only until its end comes); a line that is not a
chat request Bedrock can take is a 400 naming its line number, before the upload completes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers.jsonl import JsonLines

__all__ = [
    "BatchInput",
    "Translate",
]

CHAT_URL = "/v1/chat/completions"
#: One chat request body and the model → the record's ``modelInput`` (``bedrock.converse_body``).
Translate = Callable[[Mapping[str, Any], str], dict[str, Any]]


class BatchInput(JsonLines):
    """Translates one batch file as it streams: :meth:`feed` each read, then :meth:`end`."""

    __slots__ = ("_line_number", "_model", "_translate", "records")

    def __init__(self, model: str, translate: Translate) -> None:
        super().__init__()
        self._model = model
        self._translate = translate
        self._line_number = 0
        #: Records written so far.
        self.records = 0

    def end(self) -> bytes:
        """The record of a last line without a line break; a 400 for a file without any record."""
        out = super().end()
        if not self.records:
            raise InvalidRequest(
                "The batch file holds no request: send one JSON request per line.",
                param="file",
                code="invalid_batch_file",
            )
        return out

    def _line(self, line: bytes) -> bytes:
        self._line_number += 1
        if not line.strip():
            return b""  # blank lines (and the \r of \r\n line ends) carry nothing
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise self._refuse("is not valid JSON") from None
        custom_id, body = self._request(request)
        try:
            native = self._translate(body, self._model)
        except InvalidRequest as exc:
            raise self._refuse(f"cannot go to Bedrock: {exc.message}") from None
        self.records += 1
        return orjson.dumps({"recordId": custom_id, "modelInput": native}) + b"\n"

    def _request(self, request: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(request, dict):
            raise self._refuse("is not a JSON object")
        custom_id, body, url = request.get("custom_id"), request.get("body"), request.get("url", CHAT_URL)
        if not isinstance(custom_id, str) or not custom_id:
            raise self._refuse("needs a 'custom_id' string")
        if url != CHAT_URL:
            raise self._refuse(f"asks for {str(url)[:60]!r}: Bedrock batches serve {CHAT_URL} only")
        if not isinstance(body, dict):
            raise self._refuse("needs a 'body' object (the chat completion request)")
        return custom_id, body

    def _refuse(self, why: str) -> InvalidRequest:
        return InvalidRequest(
            f"Line {self._line_number} of the batch file {why}.", param="file", code="invalid_batch_file"
        )
