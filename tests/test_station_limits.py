"""Limit arithmetic (issue #22): the minimum of every limit, which one binds, sharing a station
limit over EVSEs, the mains-meter headroom and local limits with expiry. Pure functions, so the
invariants are checked with hypothesis over random inputs."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev_hal.station.limits import (
    STATION_SCOPE,
    Limit,
    LimitSource,
    LocalLimits,
    amps_from_watts,
    effective_limit,
    share,
    site_headroom_a,
)

S = LimitSource


def test_the_effective_limit_is_the_minimum_and_names_the_binding_source() -> None:
    result = effective_limit([Limit(S.EVSE_RATING, 32.0), Limit(S.CABLE, 20.0), Limit(S.JOSEV, 25.0), None])
    assert result.amps == 20.0
    assert result.binding == (S.CABLE,)
    assert result.of(S.JOSEV) == Limit(S.JOSEV, 25.0)
    assert result.of(S.LOCAL) is None


def test_equal_limits_bind_together() -> None:
    result = effective_limit([Limit(S.EVSE_RATING, 16.0), Limit(S.GRID_INPUT, 16.0, "4200 W")])
    assert result.binding == (S.EVSE_RATING, S.GRID_INPUT)
    assert result.describe() == "16.0 A binding=evse_rating,grid_input (4200 W)"


@pytest.mark.parametrize("bad", [math.nan, -1.0, math.inf, -math.inf])
def test_an_invalid_limit_counts_as_zero_and_is_reported(bad: float) -> None:
    result = effective_limit([Limit(S.EVSE_RATING, 32.0), Limit(S.LOCAL, bad)])
    assert result.amps == 0.0
    assert result.binding == (S.LOCAL,)
    assert result.invalid == (S.LOCAL,)
    assert "invalid=local" in result.describe()


def test_no_limit_at_all_is_zero_not_unlimited() -> None:
    result = effective_limit([None, None])
    assert result.amps == 0.0 and result.binding == ()
    assert result.describe() == "no limit"


@pytest.mark.parametrize(("amps", "offer"), [(5.9, 0.0), (6.0, 6.0), (16.0, 16.0), (0.0, 0.0)])
def test_below_the_minimum_current_the_offer_is_zero(amps: float, offer: float) -> None:
    assert effective_limit([Limit(S.SITE, amps)]).offer_a(6.0) == offer


def test_as_dict_lists_every_limit_for_status() -> None:
    d = effective_limit([Limit(S.EVSE_RATING, 32.0), Limit(S.TEMPERATURE, 24.0)]).as_dict()
    assert d == {
        "amps": 24.0,
        "binding": ["temperature"],
        "limits": {"evse_rating": 32.0, "temperature": 24.0},
        "invalid": [],
    }


LIMITS = st.lists(
    st.builds(
        Limit,
        st.sampled_from(list(LimitSource)),
        st.floats(min_value=-5.0, max_value=100.0) | st.just(math.nan) | st.just(math.inf),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=500, deadline=None)
@given(limits=LIMITS)
def test_the_effective_limit_never_exceeds_any_valid_limit_and_a_binder_equals_it(
    limits: list[Limit],
) -> None:
    result = effective_limit(limits)
    assert result.amps >= 0
    for lim in limits:
        if lim.valid:
            assert result.amps <= lim.amps
        else:
            assert result.amps == 0.0 and lim.source in result.invalid
    assert result.binding
    for source in result.binding:
        assert any(
            (lim.amps if lim.valid else 0.0) == pytest.approx(result.amps, abs=1e-6)
            for lim in limits
            if lim.source is source
        )


def test_watts_become_amps_per_phase() -> None:
    assert amps_from_watts(4200.0, 230.0, 3) == pytest.approx(6.087, abs=1e-3)
    assert amps_from_watts(4200.0, 230.0, 1) == pytest.approx(18.26, abs=1e-2)


@pytest.mark.parametrize(
    ("watts", "volts", "phases"), [(-1.0, 230.0, 3), (math.nan, 230.0, 3), (100.0, 0.0, 3), (100.0, 230.0, 4)]
)
def test_watts_that_describe_no_installation_are_refused(watts: float, volts: float, phases: int) -> None:
    with pytest.raises(ValueError):
        amps_from_watts(watts, volts, phases)


# -- sharing -----------------------------------------------------------------------------------


def test_a_station_limit_is_shared_fairly() -> None:
    assert share(30.0, {"a": 32.0, "b": 32.0}) == {"a": 15.0, "b": 15.0}


def test_what_one_evse_cannot_use_goes_to_the_others() -> None:
    assert share(30.0, {"a": 6.0, "b": 32.0, "c": 32.0}) == {"a": 6.0, "b": 12.0, "c": 12.0}


def test_below_its_minimum_an_evse_gets_nothing_so_the_others_can_charge() -> None:
    out = share(14.0, {"a": 32.0, "b": 32.0, "c": 32.0}, minimums=dict.fromkeys("abc", 6.0))
    assert out == {"a": 7.0, "b": 7.0, "c": 0.0}


def test_higher_priority_is_served_first() -> None:
    out = share(20.0, {"fleet": 16.0, "guest": 16.0}, priorities={"fleet": 1}, minimums={"guest": 6.0})
    assert out == {"fleet": 16.0, "guest": 0.0}
    out = share(24.0, {"fleet": 16.0, "guest": 16.0}, priorities={"fleet": 1}, minimums={"guest": 6.0})
    assert out == {"fleet": 16.0, "guest": 8.0}


@pytest.mark.parametrize("total", [math.nan, -5.0, math.inf])
def test_a_total_that_is_not_a_number_shares_nothing(total: float) -> None:
    assert share(total, {"a": 16.0}) == {"a": 0.0}


@settings(max_examples=500, deadline=None)
@given(
    total=st.floats(min_value=0.0, max_value=200.0),
    demands=st.dictionaries(st.sampled_from("abcdef"), st.floats(min_value=0.0, max_value=63.0), max_size=6),
    minimum=st.sampled_from([0.0, 6.0]),
    prio=st.dictionaries(st.sampled_from("abcdef"), st.integers(min_value=0, max_value=2), max_size=6),
)
def test_sharing_never_exceeds_the_total_nor_a_demand_nor_gives_less_than_a_minimum(
    total: float, demands: dict[str, float], minimum: float, prio: dict[str, int]
) -> None:
    out = share(total, demands, minimums=dict.fromkeys(demands, minimum), priorities=prio)
    assert set(out) == set(demands)
    assert sum(out.values()) <= total + 1e-9
    for key, amps in out.items():
        assert 0.0 <= amps <= demands[key] + 1e-9
        assert amps == 0.0 or amps >= minimum - 1e-9
    # fairness: two EVSEs of the same priority that both got current but less than they
    # wanted got the same
    unmet = [k for k, a in out.items() if 0 < a < demands[k] - 1e-9]
    for a in unmet:
        for b in unmet:
            if prio.get(a, 0) == prio.get(b, 0):
                assert out[a] == pytest.approx(out[b], abs=1e-6)


# -- mains meter headroom ------------------------------------------------------------------------


def test_site_headroom_is_the_limit_minus_the_other_loads_on_the_worst_phase() -> None:
    # house draws 10/14/8 A plus the EVSEs' 16 A on each phase; site fuse 35 A
    assert site_headroom_a(35.0, [26.0, 30.0, 24.0], 16.0) == pytest.approx(21.0)


def test_site_headroom_is_never_negative() -> None:
    assert site_headroom_a(25.0, [40.0, 40.0, 40.0], 0.0) == 0.0


@pytest.mark.parametrize("phases", [[], [math.nan, 1.0, 1.0]])
def test_no_mains_reading_leaves_no_headroom(phases: list[float]) -> None:
    assert site_headroom_a(35.0, phases, 0.0) == 0.0


# -- local limits --------------------------------------------------------------------------------


def test_a_local_limit_expires() -> None:
    book = LocalLimits()
    book.set("E1", now=100.0, amps=10.0, ttl_s=60.0, origin="ems")
    assert book.for_evse("E1", 159.9) is not None
    assert book.next_expiry(100.0) == 160.0
    assert book.for_evse("E1", 160.0) is None
    assert book.active(161.0) == {}


def test_a_local_limit_without_expiry_stays_until_cleared() -> None:
    book = LocalLimits()
    book.set(STATION_SCOPE, now=0.0, watts=11000.0)
    assert book.station(1e6) is not None
    assert book.next_expiry(0.0) is None
    assert book.clear(STATION_SCOPE) is True
    assert book.station(0.0) is None
    assert book.clear(STATION_SCOPE) is False


def test_a_new_limit_replaces_the_old_one_of_its_scope() -> None:
    book = LocalLimits()
    book.set("E1", now=0.0, amps=10.0)
    book.set("E1", now=1.0, amps=20.0)
    limit = book.for_evse("E1", 2.0)
    assert limit is not None and limit.amps == 20.0


def test_a_watt_limit_converts_at_the_evse_phases() -> None:
    book = LocalLimits()
    limit = book.set("E1", now=0.0, watts=6900.0)
    assert limit.to_amps(230.0, 3) == pytest.approx(10.0)
    assert limit.to_amps(230.0, 1) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amps": 10.0, "watts": 100.0}, "amps/watts"),
        ({}, "amps/watts"),
        ({"amps": -1.0}, "amps"),
        ({"amps": math.nan}, "amps"),
        ({"amps": True}, "amps"),
        ({"watts": "100"}, "watts"),
        ({"amps": 10.0, "ttl_s": 0.0}, "ttl_s"),
        ({"amps": 10.0, "ttl_s": 1e9}, "ttl_s"),
        ({"amps": 10.0, "ttl_s": math.inf}, "ttl_s"),
    ],
)
def test_a_bad_local_limit_is_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    book = LocalLimits()
    with pytest.raises(ValueError, match=f"^{field}"):
        book.set("E1", now=0.0, **kwargs)  # type: ignore[arg-type]
    assert book.active(0.0) == {}


def test_local_limit_describes_itself_for_the_logs() -> None:
    book = LocalLimits()
    limit = book.set(STATION_SCOPE, now=0.0, amps=16.0, ttl_s=90.0, origin="http 127.0.0.1")
    assert limit.describe(30.0) == "local station 16 A by http 127.0.0.1, expires in 60 s"


def test_local_limits_are_safe_to_set_and_read_from_threads() -> None:
    book = LocalLimits()
    errors: list[BaseException] = []

    def writer(scope: str) -> None:
        try:
            for i in range(300):
                book.set(scope, now=float(i), amps=float(i % 32), ttl_s=1.0)
                book.active(float(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"E{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(book.active(299.0)) == {"E0", "E1", "E2", "E3"}
