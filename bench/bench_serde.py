"""Serializer benchmark: wdk.serde against stdlib json (and pickle) on the same payloads.

Payloads:

* JSON-like (~10 KB): orders as dicts and lists of str/int/float/bool/None, the shape of most
  step arguments and results. json, pickle, raw msgpack and wdk.serde all encode it.
* ext-heavy: dataclasses holding aware datetimes, Decimals, UUIDs, tuples and sets. json
  cannot encode it; its row encodes an equivalent stringified version (``default=str``; it
  cannot decode back to the same types) for scale.

Rows are the best of several repeats, microseconds per call and MB/s of encoded wdk size.

Run: ``.venv/bin/python bench/bench_serde.py``; writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pickle
import sys
import timeit
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from wdk import serde  # noqa: E402


def json_like() -> list[dict[str, Any]]:
    return [
        {
            "id": f"order-{i:05d}",
            "customer": {"name": f"Customer {i}", "email": f"c{i}@example.com", "vip": i % 3 == 0},
            "items": [
                {"sku": f"SKU-{i}-{j}", "qty": j + 1, "price": 9.99 + j, "tags": ["a", "b"]}
                for j in range(3)
            ],
            "total": 123.45 + i,
            "note": None,
            "paid": i % 2 == 0,
        }
        for i in range(28)
    ]


@dataclasses.dataclass
class Line:
    sku: str
    qty: int
    price: Decimal
    dims: tuple[float, float, float]


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    placed: dt.datetime
    due: dt.date
    lines: list[Line]
    tags: frozenset[str]
    window: dt.timedelta


def ext_heavy() -> list[Order]:
    paris = ZoneInfo("Europe/Paris")
    return [
        Order(
            id=uuid.UUID(int=i * 7919),
            placed=dt.datetime(2024, 3, 1 + i % 28, 12, i % 60, tzinfo=paris),
            due=dt.date(2024, 4, 1 + i % 28),
            lines=[
                Line(f"SKU-{i}-{j}", j + 1, Decimal(f"{9 + j}.99"), (1.0, 2.5, float(j)))
                for j in range(3)
            ],
            tags=frozenset({"gift", f"t{i % 5}", "eu"}),
            window=dt.timedelta(hours=i),
        )
        for i in range(24)
    ]


def best_us(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def row(name: str, size: int, enc: float, dec: float | None) -> tuple[str, str, str, str, str]:
    mbs = lambda us: f"{size / us:.0f}"  # noqa: E731 - bytes per microsecond == MB/s
    dec_cells = ("-", "-") if dec is None else (f"{dec:.1f}", mbs(dec))
    return (name, f"{enc:.1f}", mbs(enc), *dec_cells)


def measure(number: int) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], int, int]:
    plain = json_like()
    js = json.dumps(plain).encode()
    ours = serde.encode(plain)
    pk = pickle.dumps(plain, protocol=5)
    mp = msgpack.packb(plain)
    assert serde.decode(ours) == plain == json.loads(js)
    size = len(ours)
    plain_rows = [
        row(
            "json (stdlib)",
            size,
            best_us(lambda: json.dumps(plain).encode(), number),
            best_us(lambda: json.loads(js), number),
        ),
        row(
            "pickle (protocol 5)",
            size,
            best_us(lambda: pickle.dumps(plain, protocol=5), number),
            best_us(lambda: pickle.loads(pk), number),
        ),
        row(
            "msgpack (raw, no ext)",
            size,
            best_us(lambda: msgpack.packb(plain), number),
            best_us(lambda: msgpack.unpackb(mp), number),
        ),
        row(
            "**wdk.serde**",
            size,
            best_us(lambda: serde.encode(plain), number),
            best_us(lambda: serde.decode(ours), number),
        ),
    ]

    rich = ext_heavy()
    ours_x = serde.encode(rich)
    assert serde.decode(ours_x) == rich
    pk_x = pickle.dumps(rich, protocol=5)
    as_json = lambda: json.dumps([dataclasses.asdict(o) for o in rich], default=str)  # noqa: E731
    js_x = as_json()
    size_x = len(ours_x)
    ext_rows = [
        row(
            "json of a stringified copy (one-way)",
            size_x,
            best_us(as_json, number // 4),
            best_us(lambda: json.loads(js_x), number // 4),
        ),
        row(
            "pickle (protocol 5)",
            size_x,
            best_us(lambda: pickle.dumps(rich, protocol=5), number // 4),
            best_us(lambda: pickle.loads(pk_x), number // 4),
        ),
        row(
            "**wdk.serde**",
            size_x,
            best_us(lambda: serde.encode(rich), number // 4),
            best_us(lambda: serde.decode(ours_x), number // 4),
        ),
    ]
    return plain_rows, ext_rows, size, size_x


def table(rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| codec | encode µs | encode MB/s | decode µs | decode MB/s |",
        "|---|---:|---:|---:|---:|",
        *(f"| {' | '.join(r)} |" for r in rows),
    ]


def main(number: int) -> str:
    plain_rows, ext_rows, size, size_x = measure(number)
    return "\n".join(
        [
            "## Serializer (wdk.serde)",
            "",
            f"Best of 7 repeats, microseconds per call; {machine()}. MB/s are of the wdk.serde",
            "encoding's size. Every codec round-trips the JSON-like payload; on the ext-heavy",
            "payload json only encodes a stringified copy that cannot be decoded to the same",
            "types.",
            "",
            f"JSON-like payload ({size} bytes as wdk.serde, {len(json.dumps(json_like()))} as "
            "JSON): dicts, lists, str, int, float, bool, None.",
            "",
            *table(plain_rows),
            "",
            f"Ext-heavy payload ({size_x} bytes): 24 dataclasses with aware datetimes, dates, "
            "Decimals, UUIDs, tuples, frozensets and timedeltas.",
            "",
            *table(ext_rows),
        ]
    )


if __name__ == "__main__":
    markdown = main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
    print(markdown)
    write_section("serde", markdown)
