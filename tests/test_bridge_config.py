"""Broker URL resolution, passwords, backoff policy, stats formatting and the embedded broker."""

from __future__ import annotations

import random
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from josev_hal.bridge import BROKER_ENV, Backoff, parse_broker_url, read_password, resolve_broker_url
from josev_hal.bridge.stats import BridgeStats, format_stats
from josev_hal.embedded_broker import EmbeddedBroker, find_mosquitto
from josev_hal.errors import ConfigError
from josev_hal.mqtt_settings import MqttSettings
from tests.support.broker import BrokerFactory


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883, False),
        ("mqtt://broker.local", "broker.local", 1883, False),
        ("mqtts://broker.local", "broker.local", 8883, True),
        ("mqtts://10.0.0.2:18883/", "10.0.0.2", 18883, True),
    ],
)
def test_broker_url_is_parsed_with_default_ports(url: str, host: str, port: int, tls: bool) -> None:
    address = parse_broker_url(url)
    assert (address.host, address.port, address.tls) == (host, port, tls)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("tcp://127.0.0.1:1883", "must start with mqtt:// or mqtts://"),
        ("mqtt://", "has no host"),
        ("mqtt://127.0.0.1:99999", "invalid broker URL"),
        ("mqtt://user:pw@127.0.0.1", "credentials in mqtt.username"),
        ("mqtt://127.0.0.1/topic", "may only hold scheme, host and port"),
    ],
)
def test_invalid_broker_url_is_a_config_error_saying_why(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_broker_url(url)


def test_cli_broker_wins_over_environment_which_wins_over_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = MqttSettings(broker="mqtt://profile:1883")
    monkeypatch.delenv(BROKER_ENV, raising=False)
    assert resolve_broker_url(settings) == "mqtt://profile:1883"
    monkeypatch.setenv(BROKER_ENV, "mqtts://env")
    assert resolve_broker_url(settings) == "mqtts://env:8883"
    assert resolve_broker_url(settings, "mqtt://cli:1884") == "mqtt://cli:1884"


def test_invalid_override_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROKER_ENV, "http://nope")
    with pytest.raises(ConfigError, match=f"^{BROKER_ENV}: "):
        resolve_broker_url(MqttSettings())
    with pytest.raises(ConfigError, match=r"^--broker: "):
        resolve_broker_url(MqttSettings(), "ftp://x")


def test_password_comes_from_the_first_line_of_the_password_file(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("hunter2\nignored\n")
    assert read_password(MqttSettings(password_file=str(path))) == "hunter2"
    assert read_password(MqttSettings(password="inline")) == "inline"
    assert read_password(MqttSettings()) is None


def test_missing_password_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pass"
    with pytest.raises(ConfigError, match=f"mqtt.password_file: cannot read {missing}"):
        read_password(MqttSettings(password_file=str(missing)))


def test_backoff_doubles_from_min_to_max_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(0.1, 2.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(2.0, 0.1 * 2**n) for n in range(10)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays[6:]) <= 2.0
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_backoff_jitter_spreads_a_fleet_of_stations() -> None:
    first_delays = {round(Backoff(1.0, 10.0, random.Random(seed)).next_delay(), 6) for seed in range(50)}
    assert len(first_delays) == 50


def test_backoff_rejects_inverted_limits() -> None:
    with pytest.raises(ConfigError, match="reconnect_min_s"):
        Backoff(5.0, 1.0)


def test_stats_line_summarises_counters() -> None:
    stats = BridgeStats(queue_capacity=100)
    stats.count_in("cp_pwm.request")
    stats.count_out("cp_pwm.response")
    stats.count_reject("malformed_json")
    stats.count_reject("malformed_json")
    stats.add("connects", 3)
    for ms in range(1, 101):
        stats.record_latency(ms / 1000)
    snap = stats.snapshot()

    assert snap.reconnects == 2
    assert snap.handler_latency.p50_ms == pytest.approx(50, abs=1)
    assert snap.handler_latency.p99_ms == pytest.approx(99, abs=1)
    assert format_stats(snap) == (
        "mqtt connected=no in=1 out=1 rejects=2[malformed_json:2] reconnects=2 connect_failures=0 "
        "queue=0/100 dropped=0 handler_errors=0 handler_timeouts=0 handler_ms_p50=51.00 p99=99.00 max=100.00"
    )


# --------------------------------------------------------------------------------------------
# embedded broker
# --------------------------------------------------------------------------------------------


def _connect(
    port: int, client_id: str, *, clean: bool, **auth: str
) -> tuple[mqtt.Client, list[bytes], list[str]]:
    got: list[bytes] = []
    codes: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    if auth:
        client.username_pw_set(auth["username"], auth["password"])
    client.on_message = lambda c, u, m: got.append(m.payload)
    client.on_connect = lambda c, u, f, rc, p: codes.append(str(rc))
    # One attempt per call: paho's loop would otherwise retry a refused CONNECT after a second
    # and record a second answer before the test looks.
    client.reconnect_delay_set(min_delay=60, max_delay=60)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not codes and time.monotonic() < deadline:
        time.sleep(0.01)
    return client, got, codes


def test_restart_keeps_the_port_and_persistent_sessions_with_their_queued_messages(
    broker: EmbeddedBroker,
) -> None:
    if not broker.sessions_survive_restart:
        pytest.skip("the amqtt fallback keeps sessions in memory only")
    port = broker.port
    sub, _, _ = _connect(port, "sub", clean=False)
    sub.subscribe("t", qos=1)
    time.sleep(0.1)
    sub.disconnect()
    sub.loop_stop()
    pub, _, _ = _connect(port, "pub", clean=True)
    pub.publish("t", b"kept", qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()

    broker.restart()
    assert broker.port == port
    sub, got, _ = _connect(port, "sub", clean=False)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    sub.disconnect()
    sub.loop_stop()

    assert got == [b"kept"]


def test_broker_with_users_accepts_the_right_password_only(broker_factory: BrokerFactory) -> None:
    auth = broker_factory(users={"hal": "pw1"})
    ok, _, ok_codes = _connect(auth.port, "a", clean=True, username="hal", password="pw1")
    bad, _, bad_codes = _connect(auth.port, "b", clean=True, username="hal", password="nope")
    for c in (ok, bad):
        c.loop_stop()
        c.disconnect()
    assert ok_codes == ["Success"]
    assert bad_codes == ["Not authorized"]


def test_password_file_is_generated_without_mosquitto_passwd(
    broker_factory: BrokerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import josev_hal.embedded_broker as eb

    monkeypatch.setattr(eb.shutil, "which", lambda name: None)
    real_access = eb.os.access
    monkeypatch.setattr(eb.os, "access", lambda p, m: False if "passwd" in str(p) else real_access(p, m))
    auth = broker_factory(users={"hal": "pw2"})
    ok, _, codes = _connect(auth.port, "c", clean=True, username="hal", password="pw2")
    ok.loop_stop()
    ok.disconnect()
    assert (auth.workdir / "passwd").read_text().startswith("hal:$7$101$")
    assert codes == ["Success"]


def test_amqtt_fallback_serves_mqtt_and_says_it_is_a_fallback() -> None:
    with EmbeddedBroker(prefer="amqtt") as fallback:
        assert fallback.is_fallback and fallback.kind == "amqtt"
        assert not fallback.sessions_survive_restart
        client, got, codes = _connect(fallback.port, "x", clean=True)
        client.subscribe("echo", qos=1)
        time.sleep(0.2)
        client.publish("echo", b"hi", qos=1)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        client.loop_stop()
        client.disconnect()
    assert codes == ["Success"]
    assert got == [b"hi"]


def test_mosquitto_is_found_on_this_machine_when_ci_requires_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI images must carry mosquitto; the fixture fails (not skips) there without it.
    from tests.support import broker as support

    monkeypatch.setenv("CI", "true")
    if find_mosquitto() is None:
        with pytest.raises(pytest.fail.Exception, match="CI=true"):
            support._require_mosquitto_in_ci()
    else:
        support._require_mosquitto_in_ci()
    monkeypatch.setenv("JOSEV_HAL_MOSQUITTO", "/nonexistent/mosquitto")
    assert find_mosquitto() is None
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        support._require_mosquitto_in_ci()


def test_broker_picks_another_port_when_the_free_one_was_taken_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    import josev_hal.embedded_broker as eb

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = eb.free_port
    ports = iter([taken])
    monkeypatch.setattr(eb, "free_port", lambda host="127.0.0.1": next(ports, None) or real_free_port(host))
    try:
        with EmbeddedBroker() as retried:
            assert retried.port != taken
            client, _, codes = _connect(retried.port, "r", clean=True)
            client.loop_stop()
            client.disconnect()
            assert codes == ["Success"]
    finally:
        squatter.close()


def test_killed_broker_comes_back_on_the_same_port(broker: EmbeddedBroker) -> None:
    port = broker.port
    broker.kill()
    assert not broker.running
    broker.start()
    client, _, codes = _connect(port, "k", clean=True)
    client.loop_stop()
    client.disconnect()
    assert broker.port == port
    assert codes == ["Success"]
