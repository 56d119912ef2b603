"""Offline policy (issue #22): detecting that Josev went silent and what a session does then.

Pure: the watch gets observations and the time; the policy maps (time lost, session kind) to an
action. Both ways of the policy are checked, and the ISO 15118 rule that overrides it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev_hal.station.offline import (
    JosevWatch,
    OfflineAction,
    OfflineEpisode,
    OfflinePolicy,
    OnJosevLost,
    SessionKind,
    decide_offline,
)

CONTINUE = OfflinePolicy()
STOP = OfflinePolicy(on_josev_lost=OnJosevLost.STOP_AFTER_S, stop_after_s=60.0)


def present_watch(policy: OfflinePolicy = CONTINUE) -> JosevWatch:
    watch = JosevWatch(policy, now=0.0)
    watch.on_broker(True, 0.0)
    watch.on_service_status("ocpp", "ready", 0.1)
    transition = watch.check(0.2)
    assert transition is not None and not transition.lost
    return watch


# -- the policy ----------------------------------------------------------------------------------


def test_basic_ac_continues_by_default_however_long_josev_is_away() -> None:
    assert CONTINUE.on_josev_lost is OnJosevLost.CONTINUE
    for lost_for in (0.0, 60.0, 86_400.0):
        assert decide_offline(CONTINUE, lost_for, SessionKind.BASIC_AC) is OfflineAction.NONE


def test_basic_ac_stops_after_stop_after_s_with_that_policy() -> None:
    assert decide_offline(STOP, 59.9, SessionKind.BASIC_AC) is OfflineAction.NONE
    assert decide_offline(STOP, 60.0, SessionKind.BASIC_AC) is OfflineAction.STOP


@pytest.mark.parametrize("policy", [CONTINUE, STOP])
def test_an_iso15118_session_is_stopped_whatever_the_policy(policy: OfflinePolicy) -> None:
    assert decide_offline(policy, 1.9, SessionKind.HLC) is OfflineAction.NONE
    assert decide_offline(policy, 2.0, SessionKind.HLC) is OfflineAction.STOP


@pytest.mark.parametrize("kind", list(SessionKind))
def test_nothing_happens_while_josev_is_there(kind: SessionKind) -> None:
    assert decide_offline(STOP, None, kind) is OfflineAction.NONE


@settings(max_examples=300, deadline=None)
@given(
    lost_for=st.floats(min_value=0.0, max_value=1e6),
    kind=st.sampled_from(list(SessionKind)),
    stop_after=st.floats(min_value=0.0, max_value=1e4),
)
def test_the_policy_never_stops_earlier_than_configured(
    lost_for: float, kind: SessionKind, stop_after: float
) -> None:
    policy = OfflinePolicy(on_josev_lost=OnJosevLost.STOP_AFTER_S, stop_after_s=stop_after)
    action = decide_offline(policy, lost_for, kind)
    if action is OfflineAction.STOP:
        assert kind is not SessionKind.NONE
        limit = policy.hlc_stop_after_s if kind is SessionKind.HLC else stop_after
        assert lost_for >= limit
    elif kind is SessionKind.HLC:
        assert lost_for < policy.hlc_stop_after_s


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"stop_after_s": -1.0}, "stop_after_s"),
        ({"hlc_stop_after_s": float("nan")}, "hlc_stop_after_s"),
        ({"probe_timeout_s": 0.0}, "probe_interval_s/probe_timeout_s"),
    ],
)
def test_a_bad_policy_names_its_key(change: dict[str, float], key: str) -> None:
    policy = OfflinePolicy(**change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"^{key}"):
        policy.validate()


# -- detecting silence ---------------------------------------------------------------------------


def test_josev_is_not_there_until_it_answered() -> None:
    watch = JosevWatch(CONTINUE, now=0.0)
    assert watch.lost
    watch.on_broker(True, 1.0)
    assert watch.check(1.0) is None and watch.lost
    assert watch.probe_due(1.0)
    watch.on_probe_sent(1.0)
    watch.on_service_status("iso15118", "ready", 1.2)
    back = watch.check(1.3)
    assert back is not None and not back.lost
    assert watch.lost_for(2.0) is None


def test_losing_the_broker_loses_josev() -> None:
    watch = present_watch()
    watch.on_broker(False, 10.0)
    lost = watch.check(10.0)
    assert lost is not None and lost.lost and lost.reason == "broker connection lost"
    assert watch.lost_for(25.0) == pytest.approx(15.0)


def test_after_a_reconnect_josev_is_back_only_once_it_answers() -> None:
    watch = present_watch()
    watch.on_broker(False, 10.0)
    watch.check(10.0)
    watch.on_broker(True, 12.0)
    assert watch.probe_due(12.0)  # ask at once
    assert watch.check(12.0) is None and watch.lost
    watch.on_service_status("ocpp", "ready", 12.5)
    back = watch.check(12.5)
    assert back is not None and not back.lost


@pytest.mark.parametrize("status", ["stopping", "error"])
def test_a_watched_service_going_down_loses_josev(status: str) -> None:
    watch = present_watch()
    watch.on_service_status("iso15118", status, 5.0)
    lost = watch.check(5.0)
    assert lost is not None and lost.lost and lost.reason == f"iso15118 {status}"
    watch.on_service_status("iso15118", "starting", 8.0)
    back = watch.check(8.0)
    assert back is not None and not back.lost


def test_an_unwatched_service_does_not_decide() -> None:
    watch = present_watch()
    watch.on_service_status("slac", "error", 5.0)
    assert watch.check(5.0) is None and not watch.lost


def test_an_unanswered_probe_loses_josev_and_reasking_does_not_restart_the_timeout() -> None:
    policy = OfflinePolicy(probe_interval_s=2.0, probe_timeout_s=5.0)
    watch = present_watch(policy)
    assert watch.probe_due(10.0)
    watch.on_probe_sent(10.0)
    assert not watch.probe_due(11.0)
    assert watch.check(14.9) is None
    assert watch.probe_due(12.0)
    watch.on_probe_sent(12.0)  # a second try
    lost = watch.check(15.0)
    assert lost is not None and lost.lost and "no service_status answer" in lost.reason
    watch.on_probe_sent(17.0)
    assert watch.check(18.0) is None  # still lost, no flapping
    watch.on_service_status("ocpp", "ready", 19.0)
    back = watch.check(19.0)
    assert back is not None and not back.lost


def test_no_probes_while_disconnected() -> None:
    watch = present_watch()
    watch.on_broker(False, 3.0)
    assert not watch.probe_due(100.0)


# -- the episode report --------------------------------------------------------------------------


def test_the_episode_report_says_what_happened_per_evse() -> None:
    episode = OfflineEpisode(started_at=100.0, reason="broker connection lost")
    episode.record(102.0, "E2", OfflineAction.STOP, "iso15118 session cannot go on without josev")
    episode.ended_at = 130.0
    report = episode.report(continued=["E1", "E2"])
    assert report == (
        "josev was lost for 30.0 s (broker connection lost); "
        "E2: stop after 2.0 s (iso15118 session cannot go on without josev); continued: E1"
    )
    assert episode.stopped() == {"E2"}


def test_an_episode_without_sessions_says_so() -> None:
    episode = OfflineEpisode(started_at=0.0, reason="ocpp error", ended_at=5.0)
    assert episode.report() == "josev was lost for 5.0 s (ocpp error); no session affected"
