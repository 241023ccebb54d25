"""A fake Aliyun SMS gateway on localhost, for tests, the benchmark and the demo.

It speaks SendSms as the SDK calls it (POST /, the request in the query string, `x-acs-action:
SendSms`, an ACS3 `Authorization` naming the access key) and answers as Aliyun does: 200 with
`{"Code": "OK", "BizId": …}`; 200 with `isv.BUSINESS_LIMIT_CONTROL` when it throttles; 500
with `InternalError` when it fails. A failed or throttled request is not accepted (nothing is
"delivered"), as with the real one. Accepted messages are kept by OutId; `post_receipts()`
sends their delivery receipts in Aliyun's batch JSON (SmsReport) to `receipt_url`.

    with FakeAliyunGateway(failure_rate=0.1, throttle_rate=0.05, seed=1) as gateway:
        gateway.endpoint          # "127.0.0.1:<port>" for SMS_GATEWAY.endpoint (protocol http)
        gateway.accepted          # {out_id: [phone, …]}: twice accepted is a duplicate
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

ACCESS_KEY_ID = "fake-key"
_CREDENTIAL = re.compile(r"Credential=([^,]+)")


class FakeAliyunGateway:
    def __init__(
        self,
        *,
        failure_rate: float = 0.0,
        throttle_rate: float = 0.0,
        seed: int | None = None,
        access_key_id: str = ACCESS_KEY_ID,
        receipt_url: str | None = None,
        undelivered_rate: float = 0.0,
    ):
        self.failure_rate = failure_rate
        self.throttle_rate = throttle_rate
        self.undelivered_rate = undelivered_rate
        self.access_key_id = access_key_id
        self.receipt_url = receipt_url
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.accepted: dict[str, list[str]] = defaultdict(list)
        self.requests = 0
        self.failed = 0
        self.throttled = 0
        self._unreported: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"

    def start(self) -> FakeAliyunGateway:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeAliyunGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict]:
        """What Aliyun would answer this SendSms request."""
        credential = _CREDENTIAL.search(headers.get("authorization", ""))
        if headers.get("x-acs-action") != "SendSms":
            return 400, {"Code": "InvalidAction.NotFound", "Message": "Specified api is not found"}
        if credential is None or credential.group(1) != self.access_key_id:
            return 404, {
                "Code": "InvalidAccessKeyId.NotFound",
                "Message": "Specified access key is not found.",
            }
        missing = [k for k in ("PhoneNumbers", "SignName", "TemplateCode") if not query.get(k)]
        if missing:
            return 400, {"Code": "MissingParameter", "Message": f"{missing[0]} is mandatory"}
        with self._lock:
            self.requests += 1
            roll = self._random.random()
            if roll < self.failure_rate:
                self.failed += 1
                return 500, {
                    "Code": "InternalError",
                    "Message": "The request processing has failed due to some unknown error.",
                }
            if roll < self.failure_rate + self.throttle_rate:
                self.throttled += 1
                return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控"}
            biz_id = f"{next(self._ids):012d}^0"
            out_id = query.get("OutId", "")
            self.accepted[out_id].append(query["PhoneNumbers"])
            self._unreported.append(
                {
                    "phone_number": query["PhoneNumbers"],
                    "success": self._random.random() >= self.undelivered_rate,
                    "biz_id": biz_id,
                    "out_id": out_id,
                    "sms_size": "1",
                }
            )
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": biz_id}

    def post_receipts(self) -> int:
        """Post the receipts not yet reported, as one batch (Aliyun's SmsReport shape)."""
        with self._lock:
            batch, self._unreported = self._unreported, []
        if not batch or not self.receipt_url:
            return 0
        for item in batch:
            item.update(
                send_time="2024-01-01 10:00:00",
                report_time="2024-01-01 10:00:05",
                err_code="DELIVERED" if item["success"] else "MK:0001",
                err_msg="用户接收成功" if item["success"] else "用户关机",
            )
        data = json.dumps(batch, ensure_ascii=False).encode()
        request = Request(self.receipt_url, data=data, headers={"Content-Type": "application/json"})
        with urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        if answer.get("code") != 0:
            raise RuntimeError(f"receipts refused: {answer}")
        return len(batch)

    def duplicates(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.accepted.items() if len(v) > 1}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                query = {
                    k: v[0] for k, v in parse_qs(urlsplit(self.path).query + "&" + body).items()
                }
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = gateway.answer(query, headers)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass  # a load run would print a line per request

        return Handler


def main(argv: list[str] | None = None) -> int:
    """Run on its own: `python -m services.notify.fake_gateway [--failure-rate 0.1] …`;
    prints its endpoint on the first line, then serves until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m services.notify.fake_gateway")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--receipt-url")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    gateway = FakeAliyunGateway(
        failure_rate=args.failure_rate,
        throttle_rate=args.throttle_rate,
        receipt_url=args.receipt_url,
        seed=args.seed,
    )
    print(gateway.endpoint, flush=True)
    try:
        gateway.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
