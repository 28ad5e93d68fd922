"""Bedrock batch output records → OpenAI batch output lines, as the file streams.

Bedrock writes one record a line: ``{recordId, modelInput, modelOutput}`` (``modelOutput`` a
Converse answer, the job being ``modelInvocationType: Converse``) or ``{recordId, modelInput,
error: {errorCode, errorMessage}}``
(https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html). OpenAI's
batch output has ``{id, custom_id, response: {status_code, request_id, body}, error}`` a line
(https://platform.openai.com/docs/api-reference/batch/request-output); ``body`` is the chat
completion the same answer gets through ``/v1/chat/completions`` (``read_converse``). The model
input is not repeated (OpenAI's lines do not carry the request). Like Portkey's batch output
(its ``getBatchOutput``), but for the output file's own id: ``files.content(batch.output_file_id)``.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import ProviderError
from gateway.providers.bedrock_answers import SLUG, read_converse
from gateway.providers.jsonl import JsonLines

__all__ = [
    "BatchOutput",
    "is_batch_output",
]

#: Bedrock names each output file after its input file, plus ``.out``; ``manifest.json.out``
#: (the job's counts, one JSON object) is not a records file.
_OUTPUT_SUFFIX = ".out"
_MANIFEST = "manifest.json.out"


def is_batch_output(key: str) -> bool:
    """Whether the S3 object ``key`` is a Bedrock batch job's records file."""
    name = key.rpartition("/")[2]
    return name.endswith(_OUTPUT_SUFFIX) and name != _MANIFEST


class BatchOutput(JsonLines):
    """A :class:`~gateway.providers.base.StreamTranslator` for one output file: :meth:`feed` each
    read, then :meth:`end`. A line that is not a record is a 502 naming the provider."""

    __slots__ = ("_model", "_strict")

    #: Batch output carries no stream usage (each line's body has its own).
    usage: dict[str, Any] | None = None

    def __init__(self, model: str, strict: bool = True) -> None:
        super().__init__()
        self._model = model
        self._strict = strict

    def _line(self, line: bytes) -> bytes:
        if not line.strip():
            return b""
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise ProviderError(
                SLUG, 502, "a batch output line is not a JSON record.", "bad_upstream_response"
            )
        custom_id = record.get("recordId")
        output, error = record.get("modelOutput"), record.get("error")
        line_id = f"batch_req_{custom_id}"
        if not isinstance(output, dict):
            failure = error if isinstance(error, dict) else {}
            code = failure.get("errorCode")
            message = failure.get("errorMessage") or "Bedrock returned no output for this record."
            failed = {"code": str(code) if code is not None else None, "message": message}
            return (
                orjson.dumps({"id": line_id, "custom_id": custom_id, "response": None, "error": failed})
                + b"\n"
            )
        body = orjson.loads(read_converse(200, orjson.dumps(output), self._model, self._strict))
        response = {"status_code": 200, "request_id": body["id"], "body": body}
        return (
            orjson.dumps({"id": line_id, "custom_id": custom_id, "response": response, "error": None}) + b"\n"
        )
