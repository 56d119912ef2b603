"""Codec benchmark: decode+validate and encode of the hot messages, four ways, in one run.

    python benchmarks/codec.py [--seconds 1.0]

Inputs (same bytes for every contender): ``cp_status.update`` and ``meter_values.update`` with
signed meter values. Contenders:

(a) josev-hal: ``josev_hal.messages.decode(strict=True)`` / ``encode`` (validates before sending);
(b) ``json`` + ``jsonschema`` with the shared contract schema (Draft 2020-12 validator);
(c) ``json`` + ``fastjsonschema`` (compiled validator of the same schema);
(d) pydantic v2 models equivalent to the Structs (built from the same type information: strict
    types, ranges, patterns, enums, ``extra="forbid"``), ``model_validate_json`` / ``model_dump_json``.

The floor is msgspec without types: ``msgspec.json.decode`` of the same bytes and
``msgspec.json.encode`` of the same message as plain dicts. Prints microseconds per message and
every contender's ratio to that floor (rounds of all contenders interleaved). Needs the ``bench``
extra and ``../shared/josev-api`` (or ``$JOSEV_API_DIR``).

Below the table, where josev-hal's time goes (same interleaved method, in the decode and encode
rounds): the payload alone through msgspec, typed and strict (``Decoder(payload class)`` on the
``data`` bytes; ``Encoder().encode(payload)``). A strict decode cannot cost less than its typed
msgspec pass, and a validated encode not less than an encode plus that strict decode of the
result (the Python glue of josev-hal is the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import inspect as mi

from josev_hal.messages import SPECS, Message, decode, encode

REPO = Path(__file__).resolve().parents[1]
API = Path(os.environ.get("JOSEV_API_DIR", REPO.parent / "shared" / "josev-api"))
FLOOR = "floor (untyped msgspec)"
OURS = "josev-hal"
PART_DEC = "payload: strict msgspec decode"
PART_ENC = "payload: msgspec encode"


def bench(fns: dict[str, Callable[[], object]], seconds: float) -> dict[str, float]:
    """Microseconds per call of each function, best of 25 rounds; the rounds of all functions are
    interleaved (a, b, c, a, b, c, ...) so that load from other processes on the machine hits
    every contender alike and the ratios stay meaningful."""
    counts: dict[str, int] = {}
    for name, fn in fns.items():  # calibrate: one round ~ seconds / 25
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            dt = time.perf_counter() - t0
            if dt > 0.005:
                break
            n *= 2
        counts[name] = max(1, int(n * (seconds / 25) / dt))
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(25):
        for name, fn in fns.items():
            n = counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return {name: b * 1e6 for name, b in best.items()}


# -- pydantic models built from the msgspec type information ------------------------------------


def pydantic_model(cls: type, cache: dict[type, Any] | None = None) -> Any:
    import pydantic

    cache = {} if cache is None else cache
    if cls in cache:
        return cache[cls]

    def conv(info: mi.Type) -> Any:
        if isinstance(info, mi.Metadata):
            return conv(info.type)
        if isinstance(info, (mi.IntType, mi.FloatType)):
            base = int if isinstance(info, mi.IntType) else float
            field = pydantic.Field(ge=info.ge, le=info.le, gt=info.gt, lt=info.lt)
            return Annotated[base, pydantic.Strict(), field]
        if isinstance(info, mi.StrType):
            field = pydantic.Field(
                pattern=info.pattern, max_length=info.max_length, min_length=info.min_length
            )
            return Annotated[str, pydantic.Strict(), field]
        if isinstance(info, mi.BoolType):
            return Annotated[bool, pydantic.Strict()]
        if isinstance(info, mi.EnumType):
            return info.cls
        if isinstance(info, mi.LiteralType):
            return Literal[info.values]  # type: ignore[valid-type]
        if isinstance(info, mi.ListType):
            return Annotated[
                list[conv(info.item_type)],  # type: ignore[misc]
                pydantic.Field(min_length=info.min_length, max_length=info.max_length),
            ]
        if isinstance(info, mi.StructType):
            return pydantic_model(info.cls, cache)
        if isinstance(info, mi.DictType):
            return dict[str, Any]
        return Any

    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields: dict[str, Any] = {}
    for f in info.fields:
        t = conv(f.type)
        fields[f.name] = (t, ...) if f.required else (t | None, None)
    extra = "forbid" if info.forbid_unknown_fields else "ignore"
    model = pydantic.create_model(cls.__name__, __config__=pydantic.ConfigDict(extra=extra), **fields)
    cache[cls] = model
    return model


def pydantic_envelope(name: str, type_: str) -> Any:
    import pydantic

    payload = pydantic_model(SPECS[(name, type_)].payload_cls)
    uuid = Annotated[
        str,
        pydantic.Field(
            pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        ),
    ]
    return pydantic.create_model(
        "Envelope",
        __config__=pydantic.ConfigDict(extra="forbid"),
        id=(uuid, ...),
        name=(Literal[name], ...),  # type: ignore[valid-type]
        type=(Literal[type_], ...),  # type: ignore[valid-type]
        data=(payload, ...),
    )


# -- inputs -------------------------------------------------------------------------------------


def inputs() -> dict[str, bytes]:
    cp = json.loads((API / "examples" / "cp_status.update.json").read_text())
    mv = json.loads((API / "examples" / "meter_values.update.json").read_text())
    assert mv["data"].get("signed_meter_values"), "the meter_values example must carry signed values"
    return {
        "cp_status.update": json.dumps(cp, separators=(",", ":")).encode(),
        "meter_values.update": json.dumps(mv, separators=(",", ":")).encode(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1 s)")
    args = parser.parse_args(argv)
    if not (API / "schemas").is_dir():
        print(f"contract not found at {API}", file=sys.stderr)
        return 2

    import fastjsonschema
    import jsonschema

    rows = []
    for key, raw in inputs().items():
        name, type_ = key.split(".")
        schema = json.loads((API / "schemas" / f"{key}.json").read_text())
        js = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        fjs = fastjsonschema.compile(schema)
        model = pydantic_envelope(name, type_)
        msg = decode(raw, strict=True)
        doc = json.loads(raw)
        obj = model.model_validate_json(raw)

        def js_decode(raw: bytes = raw, js: Any = js) -> None:
            js.validate(json.loads(raw))

        def fjs_decode(raw: bytes = raw, fjs: Any = fjs) -> None:
            fjs(json.loads(raw))

        def js_encode(doc: Any = doc, js: Any = js) -> None:
            js.validate(doc)
            json.dumps(doc, separators=(",", ":")).encode()

        def fjs_encode(doc: Any = doc, fjs: Any = fjs) -> None:
            fjs(doc)
            json.dumps(doc, separators=(",", ":")).encode()

        # What the daemon encodes: a payload in a message it created (fresh, trusted uuid4 id);
        # "decoded" re-encodes the message decode() returned (its id is checked again).
        fresh = Message.update(msg.data) if type_ == "update" else msg
        strict_payload = msgspec.json.Decoder(type(msg.data))
        payload_encoder = msgspec.json.Encoder()
        data_bytes = payload_encoder.encode(msg.data)
        s = args.seconds
        dec = bench(
            {
                FLOOR: lambda raw=raw: msgspec.json.decode(raw),
                OURS: lambda raw=raw: decode(raw, strict=True),
                "json + jsonschema": js_decode,
                "json + fastjsonschema": fjs_decode,
                "pydantic v2": lambda raw=raw, model=model: model.model_validate_json(raw),
                PART_DEC: lambda b=data_bytes, d=strict_payload: d.decode(b),
            },
            s,
        )
        enc = bench(
            {
                FLOOR: lambda doc=doc: msgspec.json.encode(doc),
                OURS: lambda msg=fresh: encode(msg),
                "josev-hal, decoded msg": lambda msg=msg: encode(msg),
                "json + jsonschema": js_encode,
                "json + fastjsonschema": fjs_encode,
                "pydantic v2": lambda obj=obj: obj.model_dump_json(exclude_none=True),
                PART_ENC: lambda data=msg.data, e=payload_encoder: e.encode(data),
                PART_DEC: lambda b=data_bytes, d=strict_payload: d.decode(b),
            },
            s,
        )
        rows.append((key, dec, enc))

    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}; µs per message (lower is better)")
    print("floor = untyped msgspec.json.decode of the same bytes / msgspec.json.encode of the same")
    print("message as plain dicts (no validation); ratios are to the floor")
    head = f"{'message':22} {'contender':26} {'decode+validate':>16} {'/floor':>7}"
    print(f"{head} {'validate+encode':>16} {'/floor':>7}")
    for key, dec, enc in rows:
        base_d, base_e = dec[FLOOR], enc[FLOOR]
        for name in [n for n in dict.fromkeys([*dec, *enc]) if n not in (PART_DEC, PART_ENC)]:
            d = f"{dec[name]:16.2f} {dec[name] / base_d:6.2f}x" if name in dec else f"{'-':>16} {'':>7}"
            e = f"{enc[name]:16.2f} {enc[name] / base_e:6.2f}x" if name in enc else f"{'-':>16} {'':>7}"
            print(f"{key:22} {name:26} {d} {e}")
    print("targets (#17): josev-hal decode+validate <= 1.25x floor, validate+encode <= 2.0x floor")
    print()
    print("where josev-hal's time goes (µs, ratio to the floor of the same column):")
    for key, dec, enc in rows:
        base_d, base_e = dec[FLOOR], enc[FLOOR]
        typed, glue_d = dec[PART_DEC], dec[OURS] - dec[PART_DEC]
        body, check = enc[PART_ENC], enc[PART_DEC]
        glue_e = enc[OURS] - body - check
        print(
            f"{key:22} decode: typed payload {typed:.2f} ({typed / base_d:.2f}x), envelope, id and "
            f"glue {glue_d:.2f} ({glue_d / base_d:.2f}x)"
        )
        print(
            f"{'':22} encode: payload {body:.2f} ({body / base_e:.2f}x) + strict decode of it "
            f"{check:.2f} ({check / base_e:.2f}x), envelope and glue {glue_e:.2f} ({glue_e / base_e:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
