"""Secrets kept out of every log record of the process, pyinfra's `--debug` included.

pyinfra's debug log prints each group's data as it loads it ("Adding data to
group ...: {...}"), passwords included, and facts' output later on. A log
record factory (it sees every record of every logger before any handler)
masks:

- values under keys that name a secret (`*password*`, `*secret*`, `*token*`,
  `*_url` credentials, every value of `*_environment` mappings), in the
  record's arguments, however deeply nested;
- every secret setting value the run validated (groundwork.runner registers
  them), wherever it appears in the message;
- Postgres SCRAM verifiers and the password part of URLs with credentials.

`install()` runs when groundwork is imported (group_data/all.py imports it, so
the records of group data loading are covered too) and is idempotent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

MASK = "********"
_SECRET_KEY = re.compile(r"password|passwd|secret|token|credential|private|webhook", re.IGNORECASE)
_ALL_VALUES_SECRET = re.compile(r"environment$", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^\s:/@'\"]*):(?P<password>[^\s@'\"]+)@", re.IGNORECASE)
_SCRAM = re.compile(r"SCRAM-SHA-256\$[^\s'\",}]+")

_secret_values: set[str] = set()
_installed = False


def register(values: Iterable[str]) -> None:
    """Values to mask wherever they appear (shorter ones would mask ordinary words)."""
    _secret_values.update(v for v in values if isinstance(v, str) and len(v) >= 6)


# (the set sorted, its size then, its values longest first); values are only ever added
_longest_first: tuple[set, int, tuple[str, ...]] = (_secret_values, 0, ())


def registered() -> tuple[str, ...]:
    """The registered values, longest first (a value inside a longer one goes after it),
    sorted again only when the set changed: every log record of a run is masked. A new
    tuple whenever they change, so text checked against one is checked again only when
    `registered()` is no longer that same object."""
    global _longest_first
    if _longest_first[0] is not _secret_values or _longest_first[1] != len(_secret_values):
        _longest_first = (_secret_values, len(_secret_values), tuple(sorted(_secret_values, key=len, reverse=True)))
    return _longest_first[2]


def mask_text(text: str) -> str:
    if "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}:{MASK}@", text)
    if "SCRAM-SHA-256$" in text:
        text = _SCRAM.sub(MASK, text)
    for value in registered():
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_data(value, key: str = ""):
    """`value` with every secret in it masked (mappings by key, strings by content)."""
    if key and _SECRET_KEY.search(key) and value is not None and not isinstance(value, (bool, int)):
        return MASK
    if isinstance(value, Mapping):
        every = bool(key) and bool(_ALL_VALUES_SECRET.search(key))
        return {k: (MASK if every else mask_data(v, str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_data(v, key) for v in value) if isinstance(value, list) else tuple(
            mask_data(v, key) for v in value)
    if isinstance(value, str):
        return mask_text(value)
    return value


def _masked_record(factory):
    def make(*args, **kwargs):
        record = factory(*args, **kwargs)
        try:
            if record.args:
                args_ = record.args
                if isinstance(args_, Mapping):
                    record.args = mask_data(args_)
                else:
                    record.args = tuple(mask_data(a) for a in args_)
            if isinstance(record.msg, str):
                record.msg = mask_text(record.msg)
            elif record.msg is not None and not isinstance(record.msg, (int, float)):
                record.msg = mask_text(str(record.msg))
        except Exception:  # a log record must never break the run; drop what we could not mask
            record.msg, record.args = "(log record withheld: it could not be checked for secrets)", ()
        return record

    make.groundwork_redaction = True
    return make


def install() -> None:
    global _installed
    factory = logging.getLogRecordFactory()
    if _installed or getattr(factory, "groundwork_redaction", False):
        return
    logging.setLogRecordFactory(_masked_record(factory))
    _installed = True
