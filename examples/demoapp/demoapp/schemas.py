"""Request validation shared by the FastAPI and Flask front ends."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, Field, Strict, StrictInt, StrictStr, field_validator

DIMENSIONS = 3  # items.embedding is vector(3)
DEFAULT_LIMIT = 10
MAX_LIMIT = 100

# JSON numbers only (no strings, no booleans), finite.
Coordinate = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Embedding = Annotated[list[Coordinate], Field(min_length=DIMENSIONS, max_length=DIMENSIONS)]


class ItemIn(BaseModel):
    name: StrictStr
    embedding: Embedding

    @field_validator("name")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:  # Postgres text cannot hold NUL
            raise ValueError("must not contain NUL characters")
        return value


class AddIn(BaseModel):
    x: StrictInt
    y: StrictInt


def parse_embedding(text: str | None) -> list[float]:
    """'1,0,0' -> [1.0, 0.0, 0.0]; ValueError with a message otherwise."""
    if not text:
        raise ValueError("embedding: required, e.g. embedding=1,0,0")
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError("embedding: expected comma-separated numbers, e.g. 1,0,0") from None
    if len(values) != DIMENSIONS:
        raise ValueError(f"embedding: expected {DIMENSIONS} numbers, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("embedding: numbers must be finite")
    return values


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise ValueError("limit: expected an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected 1..{MAX_LIMIT}")
    return limit
