import pytest
import yaml

from services.messaging.config import load_config, parse_config
from services.messaging.errors import ConfigError

PRODUCTION = """
AMQP_URI: amqp://${RABBIT_USER:-guest}:${RABBIT_PASSWORD}@${RABBIT_HOST:-localhost}:5672/
max_workers: ${MAX_WORKERS:-10}
DATABASE_CREATE_TABLES: ${CREATE_TABLES:-false}
DATABASES:
  claims: ${CLAIMS_DATABASE_URL:-postgresql+psycopg://postgres@localhost/claims}
  payments: ${PAYMENTS_DATABASE_URL:postgresql+psycopg://postgres@localhost/payments}
SMS_SENDER: "${SMS_SENDER:-10690001}"
"""


def test_defaults_fill_what_the_environment_does_not_set(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(PRODUCTION, encoding="utf-8")
    config = load_config(path, {"RABBIT_PASSWORD": "s3cret"})
    assert config == {
        "AMQP_URI": "amqp://guest:s3cret@localhost:5672/",
        "max_workers": 10,
        "DATABASE_CREATE_TABLES": False,
        "DATABASES": {
            "claims": "postgresql+psycopg://postgres@localhost/claims",
            "payments": "postgresql+psycopg://postgres@localhost/payments",
        },
        "SMS_SENDER": "10690001",  # quoted: stays a string
    }


def test_the_environment_wins_and_values_keep_their_characters():
    config = parse_config(
        PRODUCTION,
        {
            "RABBIT_PASSWORD": "p#ss: word",
            "RABBIT_HOST": "rabbit.internal",
            "MAX_WORKERS": "25",
            "PAYMENTS_DATABASE_URL": "postgresql+psycopg://pay@db/payments",
            "SMS_SENDER": "106",
        },
    )
    assert config["AMQP_URI"] == "amqp://guest:p#ss: word@rabbit.internal:5672/"
    assert config["max_workers"] == 25
    assert config["DATABASES"]["payments"] == "postgresql+psycopg://pay@db/payments"
    assert config["SMS_SENDER"] == "106"


def test_an_empty_variable_takes_the_default_like_the_shell():
    assert parse_config("n: ${N:-3}", {"N": ""}) == {"n": 3}
    assert parse_config("n: ${N}", {"N": ""}) == {"n": ""}


def test_a_missing_variable_without_default_is_named():
    with pytest.raises(ConfigError, match="RABBIT_PASSWORD is not set"):
        parse_config(PRODUCTION, {})


def test_a_missing_file_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("a: [1, 2", {})
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- 1", {})


def test_other_yaml_in_the_process_is_left_alone():
    parse_config("a: ${A:-1}", {})
    assert yaml.safe_load("a: ${A:-1}") == {"a": "${A:-1}"}
