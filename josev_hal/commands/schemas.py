"""``josev-hal schemas``: write the JSON Schemas generated from the Structs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "schemas",
        help="write JSON Schemas generated from the message and board-profile Structs",
        description=(
            "Write schemas/<name>.<type>.json for every Josev API message on the CS topics and "
            "schemas/board.schema.json for board profiles. With --check, write nothing and exit 1 "
            "when the directory differs from a fresh generation."
        ),
    )
    parser.add_argument(
        "--out", type=Path, default=Path("schemas"), help="target directory (default: schemas)"
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    return parser


def generate() -> dict[str, str]:
    """File name -> text of every generated schema."""
    from josev_hal.messages.schema import message_schemas, render

    files = {name: render(schema) for name, schema in message_schemas().items()}
    try:
        from josev_hal.profile import board_json_schema
    except ImportError:  # profiles not available in this build
        pass
    else:
        files["board.schema.json"] = render(board_json_schema())
    return files


def generate_everest() -> dict[str, str]:
    """``everest/<api>.<direction>.<name>.json`` -> text: the EVerest API payloads (a sub-directory,
    so the Josev message set above stays exactly the contract's)."""
    from josev_hal.everest.schema import everest_schemas
    from josev_hal.messages.schema import render

    return {name: render(schema) for name, schema in everest_schemas().items()}


def run(args: argparse.Namespace) -> int:
    files = {**generate(), **generate_everest()}
    out: Path = args.out
    if args.check:
        stale = [n for n, text in files.items() if not (out / n).is_file() or (out / n).read_text() != text]
        on_disk = [p.relative_to(out).as_posix() for p in [*out.glob("*.json"), *out.glob("everest/*.json")]]
        extra = sorted(n for n in on_disk if n not in files) if out.is_dir() else []
        for name in stale:
            print(f"stale {out / name}")
        for name in extra:
            print(f"unexpected {out / name}")
        return 1 if stale or extra else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    print(f"wrote {len(files)} schemas to {out}")
    return 0
