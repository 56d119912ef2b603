"""Cross-field rules of the contract that a Struct's field types cannot express.

The JSON Schemas state these as ``anyOf``/``if``-``then`` blocks; msgspec runs each payload's
``__post_init__`` while decoding (and on construction), so a violation surfaces as a
``msgspec.ValidationError`` with the JSON path of the object, exactly like a type error. Rules
only read fields; they never fill defaults in, so what was decoded is what gets re-encoded.
"""

from __future__ import annotations

from typing import Any, NoReturn

from msgspec import UNSET

from josev_hal.messages.patterns import DATE_TIME_WORDS, is_date_time

__all__ = [
    "ac_setpoint_combination",
    "at_least_one",
    "date_time_error",
    "date_times",
    "exactly_one",
    "ocpp_result_fields",
    "requires_if_present",
    "url_scheme_matches_security_profile",
    "v2g20_needs_ecdsa_sha512",
]


def date_times(obj: Any, *names: str) -> None:
    """Each of ``names`` that is present is an RFC 3339 date-time of the contract's pattern
    (see :data:`~josev_hal.messages.patterns.DateTime` for why this is not a ``Meta`` pattern).
    The message names the field; the codec turns it into the field's JSON path."""
    for name in names:
        value = getattr(obj, name)
        if value is not UNSET and not is_date_time(value):
            date_time_error(name, value)


def date_time_error(name: str, value: object) -> NoReturn:
    """Raise the error of a date-time field ``name`` holding ``value`` (for inlined checks)."""
    raise ValueError(f"field `{name}`: {DATE_TIME_WORDS}, got {value!r}")


def _present(obj: Any, name: str) -> bool:
    return getattr(obj, name) is not UNSET


def at_least_one(obj: Any, *names: str) -> None:
    if not any(_present(obj, n) for n in names):
        raise ValueError(f"needs at least one of: {', '.join(names)}")


def exactly_one(obj: Any, *names: str) -> None:
    given = [n for n in names if _present(obj, n)]
    if len(given) != 1:
        detail = "none given" if not given else f"got {', '.join(given)}"
        raise ValueError(f"needs exactly one of: {', '.join(names)} ({detail})")


def requires_if_present(obj: Any, trigger: str, required: str) -> None:
    if _present(obj, trigger) and not _present(obj, required):
        raise ValueError(f"`{required}` is required when `{trigger}` is given")


def url_scheme_matches_security_profile(obj: Any, url_field: str) -> None:
    """OCPP security profiles 2 and 3 use TLS (``wss://``), profile 1 plain ``ws://``.

    As in the contract's if/then/else, an absent ``security_profile`` counts as "2 or more".
    """
    url = getattr(obj, url_field)
    if url is UNSET:
        return
    profile = obj.security_profile
    if profile is UNSET or profile >= 2:
        if not url.startswith("wss://"):
            raise ValueError(f"`{url_field}` must start with wss:// for security profile 2 and 3")
    elif not url.startswith("ws://"):
        raise ValueError(f"`{url_field}` must start with ws:// for security profile 1")


def v2g20_needs_ecdsa_sha512(obj: Any) -> None:
    if obj.certificate_type == "v2g20_certificate" and obj.algorithm not in (UNSET, "ECDSA_SHA512"):
        raise ValueError("v2g20_certificate CSRs must use algorithm ECDSA_SHA512")


def ocpp_result_fields(obj: Any) -> None:
    if obj.message_type == "CallResult" and not _present(obj, "payload"):
        raise ValueError("a CallResult needs `payload`")
    if obj.message_type == "CallError":
        missing = [n for n in ("error_code", "error_description", "error_details") if not _present(obj, n)]
        if missing:
            raise ValueError(f"a CallError needs {', '.join(missing)}")


def ac_setpoint_combination(obj: Any) -> None:
    """An AC set-point is an active power, a reactive power or a current, never a mix that
    charges and discharges at once (the contract's six ``anyOf`` branches)."""
    cap, dap = _present(obj, "charge_active_power"), _present(obj, "discharge_active_power")
    crp, drp = _present(obj, "charge_reactive_power"), _present(obj, "discharge_reactive_power")
    cc, dc = _present(obj, "charge_current"), _present(obj, "discharge_current")
    ok = (
        (cap and not (cc or dc or dap))
        or (dap and not (cc or dc or cap))
        or (crp and not drp)
        or (drp and not crp)
        or (cc and not (cap or dap or dc))
        or (dc and not (cap or dap or cc))
    )
    if not ok:
        raise ValueError(
            "needs one set-point: charge/discharge active power, charge/discharge reactive power, "
            "or charge/discharge current (not charging and discharging at once)"
        )
