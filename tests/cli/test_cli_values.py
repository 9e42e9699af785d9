"""Printing stored values: a value JSON cannot carry never breaks a CLI command."""

from __future__ import annotations

import base64
import json

from wdk import serde
from wdk.cli._common import to_json


def test_an_int_past_the_digit_limit_prints_in_its_serde_form() -> None:
    value = {"n": 10**4301, "ok": 1}
    printed = json.loads(to_json(value))
    assert serde.decode(base64.b64decode(printed["$serde"])) == value


def test_ordinary_values_print_as_json() -> None:
    assert json.loads(to_json({"a": [1, b"x", (2, 3)]})) == {"a": [1, "x", [2, 3]]}
