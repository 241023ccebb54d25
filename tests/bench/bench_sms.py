"""SMS sending benchmark (issue 11): messages/s through notify's sending path beside a bare loop,
both to the same fake Aliyun gateway, in the same run.

    .venv/bin/python -m tests.bench.bench_sms [--messages N] [--concurrency N]

Not a timed test (tests/bench/test_bench_smoke.py runs it small). The fake gateway
(services/notify/fake_gateway.py) runs in its own process, so it does not share this one's
interpreter with what is measured. Three lines:

- bare: a keep-alive `requests` session posting SendSms requests: the floor of HTTP.
- sdk: the Aliyun SDK (alibabacloud-dysmsapi20170525) sending: what signing and the SDK add.
- service: N messages queued in notify's SQLite database, then `sending.send_due` in batches,
  as the sender loop runs it (each result and attempt recorded): what notify adds.
All three send --concurrency requests at a time (a green pool, as the service's sender does).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime

import eventlet

MODULE = "tests.bench.bench_sms"


def _gateway() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.notify.fake_gateway"], stdout=subprocess.PIPE, text=True
    )
    return process, process.stdout.readline().strip()


def bare(endpoint: str, count: int, concurrency: int) -> float:
    import requests
    from eventlet.greenpool import GreenPool

    from services.notify.fake_gateway import ACCESS_KEY_ID

    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrency))
    headers = {"x-acs-action": "SendSms", "Authorization": f"ACS3 Credential={ACCESS_KEY_ID},x"}

    def post(i: int) -> str:
        answer = session.post(
            f"http://{endpoint}/?PhoneNumbers=138{i:08d}&SignName=s&TemplateCode=t&OutId={i}",
            headers=headers,
        )
        return answer.json()["Code"]

    start = time.perf_counter()
    codes = list(GreenPool(concurrency).imap(post, range(count)))
    rate = count / (time.perf_counter() - start)
    assert codes == ["OK"] * count
    return rate


def sdk(endpoint: str, count: int, concurrency: int) -> float:
    from eventlet.greenpool import GreenPool

    from services.notify.fake_gateway import ACCESS_KEY_ID
    from services.notify.gateways import AliyunGateway, SmsRequest

    gateway = AliyunGateway(
        access_key_id=ACCESS_KEY_ID, access_key_secret="s", endpoint=endpoint, protocol="http"
    )
    requests = [
        SmsRequest(str(i), f"138{i:08d}", "张家口市总工会", "SMS_1", {"name": "王芳"}, "")
        for i in range(count)
    ]
    start = time.perf_counter()
    outcomes = [r.outcome for r in GreenPool(concurrency).imap(gateway.send, requests)]
    rate = count / (time.perf_counter() - start)
    assert outcomes == ["accepted"] * count
    return rate


def service(endpoint: str, count: int, concurrency: int) -> float:
    from eventlet.greenpool import GreenPool
    from mutual_aid_zhangjiakou import Zhangjiakou

    from services.kernel.clock import SHANGHAI
    from services.messaging.database import make_engine, make_session_factory, session_scope
    from services.notify import migrations
    from services.notify.fake_gateway import ACCESS_KEY_ID
    from services.notify.gateways import AliyunGateway
    from services.notify.sending import Notice, Settings, enqueue, send_due
    from services.notify.templates import city_templates

    noon = datetime(2024, 3, 1, 12, tzinfo=SHANGHAI)
    texts = city_templates(Zhangjiakou(package="mutual_aid_zhangjiakou"), 2024)
    settings = Settings(batch=500)
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as tmp:
        url = f"sqlite:///{tmp}/notify.sqlite"
        migrations.upgrade(url)
        engine = make_engine(url, pool_size=concurrency + 2)
        factory = make_session_factory(engine)
        notices = [
            Notice(f"member:{i}", f"138{i:08d}", texts.render("members_enrolled", name="王芳"))
            for i in range(count)
        ]
        with session_scope(factory) as session:
            enqueue(
                session,
                notices,
                event_id="bench",
                event_type="members_enrolled",
                city="zhangjiakou",
                year=2024,
                now=noon,
                settings=settings,
            )
        gateway = AliyunGateway(
            access_key_id=ACCESS_KEY_ID, access_key_secret="s", endpoint=endpoint, protocol="http"
        )
        pool = GreenPool(concurrency)
        start = time.perf_counter()
        sent = 0
        while tried := send_due(factory, gateway, now=noon, settings=settings, each=pool.imap):
            sent += tried
        rate = sent / (time.perf_counter() - start)
        engine.dispose()
    assert sent == count, f"sent {sent} of {count}"
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    eventlet.monkey_patch()  # as nameko's runner does: the green pool's requests overlap
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args(argv)
    process, endpoint = _gateway()
    try:
        print(f"SMS sending benchmark: {args.messages} messages to the fake gateway at {endpoint}")
        for name, rate in (
            ("bare", bare(endpoint, args.messages, args.concurrency)),
            ("sdk", sdk(endpoint, args.messages, args.concurrency)),
            ("service", service(endpoint, args.messages, args.concurrency)),
        ):
            print(f"{name:8} {args.messages:6d} messages {rate:8.0f} messages/s")
    finally:
        process.terminate()
        process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
