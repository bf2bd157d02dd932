"""The ride socket's frames held to its AsyncAPI document: what tests/conftest.py checks every
frame the server sends in the suite with."""

import json
from functools import cache

from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sessions_rt.asyncapi import asyncapi_document
from sessions_rt.schemas import strict_validator

DOCUMENT_URI = "urn:convoy:asyncapi"


def frame_problems(text: str) -> list[str]:
    """Why the text frame the server sent is not one the document describes (none: it is)."""
    try:
        frame = json.loads(text)
    except ValueError:
        return [f"not JSON: {text[:200]!r}"]
    kind = frame.get("type") if isinstance(frame, dict) else None
    validator = _validators().get(kind) if isinstance(kind, str) else None
    if validator is None:
        return [f"no server message of type {kind!r} in the document: {text[:200]}"]
    return [
        f"{kind} at /{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(frame)
    ]


@cache
def _validators() -> dict[str, Validator]:
    """A validator per server message type, each reading the one generated document (its
    $refs to shared parts resolve inside it)."""
    document = asyncapi_document()
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7)
    )
    return {
        message["name"]: strict_validator(
            {"$ref": f"{DOCUMENT_URI}#/components/schemas/{key}"}, registry=registry
        )
        for key, message in document["components"]["messages"].items()
        if key.startswith("server.")
    }
