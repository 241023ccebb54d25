"""A bank simulator on localhost: takes payout batches, answers queries, and posts signed
callbacks back — late, twice, out of order or not at all, as configured. Used by tests, the
demo and the load run; plain WSGI (the standard library's server), no framework.

    python -m services.payments.bank_sim --port 8099 --secret S \\
        --callback-url http://127.0.0.1:8000/payments/callbacks/bank/sim --lose 0.2 --reorder

API (JSON):
    POST /batches    {batch_id, payouts: [{payout_id, name, card_number, amount, …}]} → 202
    POST /query      {payout_ids: [...]} → {payouts: [{payout_id, status, bank_reference,
                     failure_code, failure_message, amount}]}; unknown ids: status "unknown"
    POST /transfers  {account, amount, reference, payer_name?, currency?, occurred_at?} → 202: a unit's
                     transfer arriving; a premium.received callback follows
    POST /cards/<card>/fix → 200: a dormant or unactivated card made good at the branch

Each payout's outcome is decided when its batch arrives: a card listed in ``card_failures``
fails with that code and text until fixed; otherwise the ``failure_rate`` share fails with a
code drawn from ``FAILURES``. Until ``delay`` has passed a query answers "processing".
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from services.payments import signatures

FAILURES = (
    ("E1001", "收款人户名不符"),
    ("E1002", "账户已销户"),
    ("E1003", "账户久悬"),
    ("E1004", "卡片未激活"),
    ("E1005", "无此账户"),
    ("E1006", "超过收款限额"),
    ("E1007", "开户行行号错误"),
)
MAX_BODY = 10 * 1024 * 1024


@dataclass
class SimConfig:
    secret: str
    callback_url: str | None = None
    delay: float = 0.0  # seconds before a payout is final at the bank (and its callback sent)
    failure_rate: float = 0.0
    duplicate_rate: float = 0.0  # callbacks sent twice (a bank's retry: a new nonce)
    lose_rate: float = 0.0  # callbacks never sent (the query still answers)
    reorder: bool = False  # a batch's callbacks sent in random order
    card_failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    seed: int | None = None


class BankSimulator:
    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock
        self.random = random.Random(config.seed)
        self.payouts: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []  # every callback body posted (tests read it)
        self._lock = threading.Lock()
        self._outbox: list[tuple[float, dict[str, Any]]] = []
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._in_flight = 0
        self._sender = threading.Thread(target=self._send_loop, name="bank-sim-sender", daemon=True)
        self._sender.start()

    # ---- the bank's side ---------------------------------------------------------------

    def take_batch(self, batch: Mapping[str, Any]) -> None:
        now = self.clock()
        results = []
        with self._lock:
            for item in batch["payouts"]:
                payout_id = str(item["payout_id"])
                if payout_id in self.payouts:
                    continue  # the same payout twice is paid once
                failure = self.config.card_failures.get(str(item["card_number"]))
                if failure is None and self.random.random() < self.config.failure_rate:
                    failure = self.random.choice(FAILURES)
                state = {
                    "payout_id": payout_id,
                    "amount": str(item["amount"]),
                    "final_at": now + self.config.delay,
                    "status": "failed" if failure else "succeeded",
                    "bank_reference": f"SIM{uuid.uuid4().hex[:12].upper()}",
                    "failure_code": failure[0] if failure else None,
                    "failure_message": failure[1] if failure else None,
                }
                self.payouts[payout_id] = state
                results.append(state)
            if self.config.reorder:
                self.random.shuffle(results)
            for state in results:
                self._schedule(state["final_at"], self._payout_event(state))
            self._wake.notify()

    def query(self, payout_ids: list[str]) -> list[dict[str, Any]]:
        now = self.clock()
        answer = []
        with self._lock:
            for payout_id in payout_ids:
                state = self.payouts.get(str(payout_id))
                if state is None:
                    answer.append({"payout_id": str(payout_id), "status": "unknown"})
                    continue
                final = now >= state["final_at"]
                answer.append(
                    {
                        "payout_id": state["payout_id"],
                        "status": state["status"] if final else "processing",
                        "bank_reference": state["bank_reference"],
                        "failure_code": state["failure_code"] if final else None,
                        "failure_message": state["failure_message"] if final else None,
                        "amount": state["amount"],
                    }
                )
        return answer

    def transfer(self, item: Mapping[str, Any]) -> str:
        event_id = f"SIM{uuid.uuid4().hex[:16].upper()}"
        event = {
            "event_id": event_id,
            "type": "premium.received",
            # a demo or test may date the transfer inside the year's window it pays for
            "occurred_at": str(
                item.get("occurred_at") or datetime.fromtimestamp(self.clock(), UTC).isoformat()
            ),
            "account": str(item["account"]),
            "amount": str(item["amount"]),
            "currency": str(item.get("currency") or "CNY"),
            "reference": item.get("reference"),
            "payer_name": item.get("payer_name"),
        }
        with self._lock:
            self._schedule(self.clock() + self.config.delay, event)
            self._wake.notify()
        return event_id

    def fix_card(self, card: str) -> None:
        with self._lock:
            self.config.card_failures.pop(card, None)

    def _payout_event(self, state: Mapping[str, Any]) -> dict[str, Any]:
        event = {
            "event_id": f"{state['bank_reference']}-{state['status']}",
            "type": f"payout.{state['status']}",
            "occurred_at": datetime.fromtimestamp(state["final_at"], UTC).isoformat(),
            "payout_id": state["payout_id"],
            "amount": state["amount"],
            "serial": state["bank_reference"],
        }
        if state["failure_code"]:
            event["failure_code"] = state["failure_code"]
            event["failure_message"] = state["failure_message"]
        return event

    def _schedule(self, at: float, event: dict[str, Any]) -> None:
        # called with the lock held
        if self.random.random() < self.config.lose_rate:
            return
        self._outbox.append((at, event))
        if self.random.random() < self.config.duplicate_rate:
            self._outbox.append((at, event))

    # ---- posting callbacks -------------------------------------------------------------

    def _send_loop(self) -> None:
        http = requests.Session()
        while True:
            with self._lock:
                while not self._stopping and not self._ready():
                    self._wake.wait(0.05)
                if self._stopping:
                    return
                now = self.clock()
                due = [item for item in self._outbox if item[0] <= now]
                self._outbox = [item for item in self._outbox if item[0] > now]
                self._in_flight += len(due)
            for _, event in due:
                self._post(http, event)
                with self._lock:
                    self._in_flight -= 1

    def _ready(self) -> bool:
        now = self.clock()
        return any(at <= now for at, _ in self._outbox)

    def _post(self, http: requests.Session, event: dict[str, Any]) -> None:
        if not self.config.callback_url:
            return
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = signatures.signed_headers(
            self.config.secret, int(self.clock()), uuid.uuid4().hex, body
        )
        try:
            http.post(self.config.callback_url, data=body, headers=headers, timeout=5)
        except requests.RequestException:
            pass  # a callback that does not arrive: what the active query is for
        with self._lock:
            self.sent.append(event)

    def pending_callbacks(self) -> int:
        """Callbacks scheduled or being posted: 0 when every one has been sent (or lost)."""
        with self._lock:
            return len(self._outbox) + self._in_flight

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify()
        self._sender.join(2)

    # ---- HTTP --------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response) -> Iterator[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if method != "POST":
            return _json(start_response, 405, {"error": "POST only"})
        if not 0 <= length <= MAX_BODY:
            return _json(start_response, 413, {"error": "body too large"})
        try:
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return _json(start_response, 400, {"error": "not JSON"})
        try:
            if path == "/batches":
                self.take_batch(body)
                return _json(start_response, 202, {"batch_id": body.get("batch_id")})
            if path == "/query":
                return _json(start_response, 200, {"payouts": self.query(body["payout_ids"])})
            if path == "/transfers":
                return _json(start_response, 202, {"event_id": self.transfer(body)})
            if path.startswith("/cards/") and path.endswith("/fix"):
                self.fix_card(path[len("/cards/") : -len("/fix")])
                return _json(start_response, 200, {})
        except (KeyError, TypeError) as exc:
            return _json(start_response, 400, {"error": f"missing or wrong field {exc}"})
        return _json(start_response, 404, {"error": path})


def _json(start_response, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    reasons = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found"}
    reasons.update({405: "Method Not Allowed", 413: "Payload Too Large"})
    start_response(
        f"{status} {reasons[status]}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


def serve(simulator: BankSimulator, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """A server for ``simulator`` on ``host:port`` (0: a free port; see server.server_port);
    the caller runs ``serve_forever`` (in a thread) and ``shutdown``."""
    return make_server(host, port, simulator, handler_class=_QuietHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bank-sim", description="A bank simulator on localhost.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret", required=True, help="the HMAC secret callbacks are signed with")
    parser.add_argument("--callback-url", help="where callbacks are posted")
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--fail", type=float, default=0.0, help="share of payouts that fail")
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--lose", type=float, default=0.0)
    parser.add_argument("--reorder", action="store_true")
    args = parser.parse_args(argv)
    simulator = BankSimulator(
        SimConfig(
            secret=args.secret,
            callback_url=args.callback_url,
            delay=args.delay,
            failure_rate=args.fail,
            duplicate_rate=args.duplicate,
            lose_rate=args.lose,
            reorder=args.reorder,
        )
    )
    try:
        server = serve(simulator, args.host, args.port)
    except OSError as exc:
        parser.exit(2, f"bank-sim: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
    print(f"bank simulator on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
