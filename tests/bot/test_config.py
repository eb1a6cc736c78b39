"""Settings: one readable sentence per problem, simulator without credentials, .env, secrets hidden."""

from __future__ import annotations

import pytest

from bot.config import (
    SIMULATOR_CLIENT_ID,
    SIMULATOR_CLIENT_SECRET,
    ConfigError,
    HarborEnv,
    load_settings,
)

VARIABLES = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "HARBOR_ENV",
    "HARBOR_API_URL",
    "HARBOR_TOKEN_URL",
    "HARBOR_CLIENT_ID",
    "HARBOR_CLIENT_SECRET",
    "DATABASE_URL",
    "ADMIN_IDS",
    "RESERVATION_SECONDS",
    "KEY_SECONDS",
    "SEARCH_RADIUS_KM",
    "LOCKER_POLL_SECONDS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No variable from the developer's shell and no .env from the checkout leaks into a test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def one_sentence(text: str) -> bool:
    return text.endswith(".") and "\n" not in text and "Traceback" not in text


def test_missing_credentials_is_one_sentence_naming_both(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "sandbox")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "HARBOR_CLIENT_ID" in message
    assert "HARBOR_CLIENT_SECRET" in message
    assert "HARBOR_ENV=simulator" in message  # the way out
    assert one_sentence(message)


def test_missing_secret_only_names_the_secret(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "production")
    monkeypatch.setenv("HARBOR_CLIENT_ID", "my-client")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "HARBOR_CLIENT_SECRET" in message
    assert "HARBOR_CLIENT_ID " not in message
    assert "production" in message


def test_default_env_is_sandbox_and_needs_credentials():
    with pytest.raises(ConfigError, match="HARBOR_CLIENT_ID"):
        load_settings()


def test_simulator_runs_without_credentials(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    settings = load_settings()
    assert settings.harbor_env is HarborEnv.SIMULATOR
    client_id, secret = settings.harbor_credentials
    assert client_id == SIMULATOR_CLIENT_ID
    assert secret.get_secret_value() == SIMULATOR_CLIENT_SECRET
    api, token = settings.harbor_urls
    assert api.startswith("http://")
    assert token.endswith("/realms/harbor/protocol/openid-connect/token")


def test_url_overrides_win_and_lose_their_trailing_slash(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "sandbox")
    monkeypatch.setenv("HARBOR_CLIENT_ID", "id")
    monkeypatch.setenv("HARBOR_CLIENT_SECRET", "secret")
    monkeypatch.setenv("HARBOR_API_URL", "http://127.0.0.1:8700/")
    monkeypatch.setenv("HARBOR_TOKEN_URL", "http://127.0.0.1:8700/realms/harbor/protocol/openid-connect/token")
    assert load_settings().harbor_urls == (
        "http://127.0.0.1:8700",
        "http://127.0.0.1:8700/realms/harbor/protocol/openid-connect/token",
    )


@pytest.mark.parametrize("value", ["1,two,3", "12;x", "1.5"])
def test_malformed_admin_ids_name_the_variable(monkeypatch, value):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    monkeypatch.setenv("ADMIN_IDS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("ADMIN_IDS is not valid")
    assert one_sentence(message)


def test_admin_ids_accept_commas_semicolons_and_spaces(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    monkeypatch.setenv("ADMIN_IDS", " 11, 22;33 ,")
    assert load_settings().admin_ids == frozenset({11, 22, 33})


@pytest.mark.parametrize("value", ["soon", "-5", "99999999"])
def test_malformed_key_seconds_name_the_variable(monkeypatch, value):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    monkeypatch.setenv("KEY_SECONDS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("KEY_SECONDS is not valid")
    assert one_sentence(message)


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(
        "HARBOR_ENV=sandbox\n"
        "HARBOR_CLIENT_ID=from-dotenv\n"
        "HARBOR_CLIENT_SECRET=dotenv-secret-value\n"
        "ADMIN_IDS=7,8\n"
        "KEY_SECONDS=120\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.harbor_env is HarborEnv.SANDBOX
    assert settings.harbor_client_id == "from-dotenv"
    assert settings.admin_ids == frozenset({7, 8})
    assert settings.key_seconds == 120


def test_environment_beats_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("HARBOR_ENV=sandbox\nKEY_SECONDS=120\n", encoding="utf-8")
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    settings = load_settings()
    assert settings.harbor_env is HarborEnv.SIMULATOR
    assert settings.key_seconds == 120


def test_secrets_are_secretstr_and_hidden_from_repr(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "sandbox")
    monkeypatch.setenv("HARBOR_CLIENT_ID", "client")
    monkeypatch.setenv("HARBOR_CLIENT_SECRET", "very-secret-harbor-value")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:very-secret-telegram-token")
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "very-secret-harbor-value" not in text
        assert "very-secret-telegram-token" not in text
    assert settings.harbor_client_secret is not None
    assert settings.harbor_client_secret.get_secret_value() == "very-secret-harbor-value"
    assert settings.require_telegram_token().get_secret_value() == "123456:very-secret-telegram-token"


def test_missing_telegram_token_is_a_sentence(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        load_settings().require_telegram_token()
