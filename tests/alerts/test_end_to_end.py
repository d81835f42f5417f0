"""MQTT fix → ingest worker → incident + outbox in one transaction → the running
dispatcher, woken by NOTIFY, delivers the signed company webhook."""

from __future__ import annotations

import threading

from alerts.dispatcher import Dispatcher
from tests.alerts.support import rows
from tests.city import OUTSIDE
from tests.helpers import fix, now_local, publish_json, publisher, running_worker, wait_for


def test_sos_fix_reaches_the_company_webhook(city, engine, alert_settings, receiver):
    dispatcher = Dispatcher(engine, alert_settings, interval_s=30)  # only NOTIFY wakes it
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        with running_worker(alert_settings), publisher(alert_settings) as pub:
            publish_json(pub, "t-0001", "pos", fix(now_local(alert_settings), *OUTSIDE,
                                                   speed=10.0, alarms=["sos"]))
            wait_for(lambda: receiver.at("/hook/ok/muck"), 20, "the company's webhook")
    finally:
        dispatcher.stop()
        thread.join(35)
    [hook] = receiver.at("/hook/ok/muck")
    assert hook.valid_signature
    assert hook.json["notice"]["rule_name"] == "终端报警"
    [incident] = rows(city, "SELECT id, rule, severity, officer FROM incidents")
    assert (incident.rule, incident.severity, incident.officer) == (
        "terminal_alarm", "critical", "P37020201")
    assert hook.json["incident"]["id"] == incident.id
