"""`mutual-aid demo`: a scheme year end to end, each step printed as it happens.

    mutual-aid demo                                  # starts the suite itself (embedded)
    mutual-aid demo --amqp URI --bank URL [--start N]   # a production suite on that broker

Ends with "the year is complete" and exit 0, or the failed step and exit 1.
"""

from __future__ import annotations

import sys


def add_to(sub) -> None:
    p = sub.add_parser("demo", help="run a scheme year end to end and print each step")
    p.add_argument("--amqp", metavar="URI", help="a running suite's broker (default: start one)")
    p.add_argument("--bank", metavar="URL", help="its bank simulator (with --amqp)")
    p.add_argument("--var", help="folder for the embedded suite's data (default: a new temp one)")
    p.add_argument(
        "--start", type=int, default=0, help="number of the first fictional person (default 0)"
    )
    p.set_defaults(run=cmd_demo)


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_demo(args) -> tuple[dict, int]:
    from services.cli import UsageError, _patch_eventlet

    if bool(args.amqp) != bool(args.bank):
        raise UsageError("--amqp and --bank go together (a running suite's broker and bank)")
    _patch_eventlet()
    from services.demo.year import StepFailed, Year

    try:
        if args.amqp:
            from nameko.standalone.rpc import ClusterRpcProxy

            with ClusterRpcProxy({"AMQP_URI": args.amqp}) as rpc:
                outcome = Year(rpc, args.bank, _say, args.start).run()
        else:
            outcome = _embedded(args)
    except StepFailed as exc:
        print(f"mutual-aid: demo failed: {exc}", file=sys.stderr, flush=True)
        return {"complete": False, "failed": str(exc)}, 1
    _say("全年流程完成 / the year is complete")
    return {"complete": True, **{k: v for k, v in outcome.items() if k != "balances"}}, 0


def _embedded(args) -> dict:
    import tempfile
    from pathlib import Path

    from services.demo.suite import embedded_suite
    from services.demo.year import DEMO_TODAY, Year

    var = Path(args.var) if args.var else Path(tempfile.mkdtemp(prefix="mutual-aid-demo-"))
    _say(f"启动全部服务（进程内，日期 {DEMO_TODAY}）/ starting the suite in-process")
    _say(f"   数据与日志 / data and logs: {var}/ (services.log)")
    with embedded_suite(var) as (rpc, bank_url):
        return Year(rpc, bank_url, _say, args.start).run()
