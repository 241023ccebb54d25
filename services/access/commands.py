"""`mutual-aid token issue`: a bearer token from the embedded local issuer, for people and
scripts in embedded mode (production tokens come from the province's IdP, deploy/keycloak).

    mutual-aid token issue --role unit_clerk --city zhangjiakou --unit UNIT_ID --name 王芳 \
        [--sub ID] [--district CODE] [--hours 8] [--var var]

Prints the token on stdout; the signing key is var/auth/signing-key.pem (0600), made on
first use, and the services read var/auth/jwks.json.
"""

from __future__ import annotations

import sys

from services.access.identity import DISTRICT_CLERK, ROLES, UNIT_CLERK


def cmd_issue(args) -> None:
    from pathlib import Path

    from services.access.tokens import LocalIssuer

    if args.role == UNIT_CLERK and not args.unit:
        return _usage("--role unit_clerk needs --unit")
    if args.role == DISTRICT_CLERK and not args.district:
        return _usage("--role district_clerk needs --district")
    if args.hours <= 0 or args.hours > 24 * 31:
        return _usage("--hours: between 0 and 744")
    token = LocalIssuer(Path(args.var) / "auth").issue(
        name=args.name,
        role=args.role,
        sub=args.sub,
        city=args.city,
        district=args.district,
        unit=args.unit,
        hours=args.hours,
    )
    # the bare token, not the CLI's JSON: TOKEN=$(mutual-aid token issue …) is how it is used
    print(token)
    raise SystemExit(0)


def _usage(message: str) -> int:
    print(f"mutual-aid token issue: {message}", file=sys.stderr)
    raise SystemExit(2)


def add_to(sub) -> None:
    """Register `token issue` on the CLI's subparsers (services/cli.py)."""
    token = sub.add_parser("token", help="bearer tokens from the embedded local issuer")
    commands = token.add_subparsers(dest="token_command", required=True, parser_class=type(token))
    p = commands.add_parser("issue", help="print a token for a person or a script")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--name", required=True, help="display name, recorded as the actor")
    p.add_argument("--sub", help="subject (default: a new local:<uuid>)")
    p.add_argument("--city")
    p.add_argument("--district")
    p.add_argument("--unit", help="the unit's id (a unit clerk's scope)")
    p.add_argument("--hours", type=float, default=8, help="lifetime (default 8)")
    p.add_argument("--var", default="var", help="folder of the local issuer (default: var)")
    p.set_defaults(run=cmd_issue)
