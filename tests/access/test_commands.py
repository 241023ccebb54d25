"""`mutual-aid token issue`: a token the services accept, from a key only its owner reads."""

from __future__ import annotations

import stat

from services.access.tokens import AuthSettings, TokenVerifier


def test_issue_prints_a_token_the_services_accept(mutual_aid, tmp_path):
    var = tmp_path / "var"
    done = mutual_aid(
        "token", "issue", "--role", "unit_clerk", "--city", "zhangjiakou", "--unit", "u-1",
        "--name", "王芳", "--sub", "wf-1", "--var", str(var),
    )  # fmt: skip

    assert done.code == 0, done.stderr
    token = done.stdout.strip()
    verifier = TokenVerifier(AuthSettings.from_config({"AUTH_KEY_DIR": str(var / "auth")}))
    identity = verifier.verify(token)
    assert (identity.actor, identity.role, identity.city, identity.unit) == (
        "王芳 (wf-1)",
        "unit_clerk",
        "zhangjiakou",
        "u-1",
    )
    assert stat.S_IMODE((var / "auth" / "signing-key.pem").stat().st_mode) == 0o600


def test_usage_errors_are_one_line_and_exit_2(mutual_aid, tmp_path):
    var = str(tmp_path / "var")
    no_unit = mutual_aid("token", "issue", "--role", "unit_clerk", "--name", "王芳", "--var", var)
    bad_role = mutual_aid("token", "issue", "--role", "root", "--name", "x", "--var", var)

    assert (no_unit.code, no_unit.stderr.strip()) == (
        2,
        "mutual-aid token issue: --role unit_clerk needs --unit",
    )
    assert bad_role.code == 2 and "invalid choice: 'root'" in bad_role.stderr
    assert "Traceback" not in no_unit.stderr + bad_role.stderr
