"""``josev-hal validate``: check Josev API messages against the contract (strictly).

CS manufacturers use it on their own payloads: one verdict line per message, ``ok <name>.<type>``
or ``error <JSON path>: <reason>``, exit 0 only when every message is ok. With ``--jsonl`` each
input line is one message (blank lines are skipped); ``-`` reads standard input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check Josev API messages (files or JSON lines) against the contract",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 all messages ok, 1 at least one message is invalid, 2 usage error.",
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE", help="message file(s), or - for stdin")
    parser.add_argument("--jsonl", action="store_true", help="one JSON message per input line")
    return parser


def _messages(inputs: Iterable[str], jsonl: bool, stdin: IO[bytes]) -> Iterator[bytes]:
    for name in inputs:
        stream = stdin if name == "-" else Path(name).open("rb")  # noqa: SIM115 - closed below
        try:
            if jsonl:
                for line in stream:
                    if line.strip():
                        yield line
            else:
                yield stream.read()
        finally:
            if stream is not stdin:
                stream.close()


def verdicts(messages: Iterable[bytes]) -> Iterator[tuple[bool, str]]:
    """``(ok, line)`` per message."""
    from josev_hal.errors import MessageError
    from josev_hal.messages import decode

    for raw in messages:
        try:
            msg = decode(raw, strict=True)
        except MessageError as exc:
            yield False, f"error {exc.path}: {exc.reason}"
        else:
            yield True, f"ok {msg.name}.{msg.type.value}"


def run(args: argparse.Namespace) -> int:
    for name in args.inputs:
        if name != "-" and not Path(name).is_file():
            print(f"josev-hal validate: no such file: {name}", file=sys.stderr)
            return EXIT_USAGE
    failed = 0
    out = sys.stdout
    batch: list[str] = []
    for ok, line in verdicts(_messages(args.inputs, args.jsonl, sys.stdin.buffer)):
        failed += not ok
        batch.append(line)
        if len(batch) >= 4096:  # print in blocks: 100k verdicts must not cost 100k writes
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
    out.flush()
    return EXIT_PROBLEMS if failed else EXIT_OK
