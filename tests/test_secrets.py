"""get_connector_secret: from CONNECTOR_SECRET_<KEY>, else from a file in the secrets directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import ConfigurationError, get_connector_secret


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONNECTOR_SECRETS_DIR", str(tmp_path))
    return tmp_path


def test_an_environment_variable_is_read_first(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (secrets_dir / "api-token").write_text("from-file")
    monkeypatch.setenv("CONNECTOR_SECRET_API_TOKEN", "from-env")
    assert get_connector_secret("api-token") == "from-env"


def test_the_variable_name_is_upper_cased_with_other_characters_as_underscores(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_MY_DB_PASSWORD_2", "pw")
    assert get_connector_secret("my.db-password/2") == "pw"


def test_an_empty_variable_is_a_value(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_EMPTY", "")
    assert get_connector_secret("empty") == ""


def test_a_file_in_the_secrets_directory(secrets_dir: Path) -> None:
    (secrets_dir / "api-token").write_text("from-file\n")
    assert get_connector_secret("api-token") == "from-file"  # the trailing newline is dropped


def test_a_missing_secret_names_both_places(secrets_dir: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        get_connector_secret("api-token")
    assert str(info.value) == (
        f"secret 'api-token' not found: set $CONNECTOR_SECRET_API_TOKEN or create {secrets_dir / 'api-token'}"
    )


def test_the_default_directory_is_etc_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONNECTOR_SECRETS_DIR", raising=False)
    with pytest.raises(ConfigurationError) as info:
        get_connector_secret("surely-not-a-mounted-secret")
    assert str(info.value) == (
        "secret 'surely-not-a-mounted-secret' not found: set $CONNECTOR_SECRET_SURELY_NOT_A_MOUNTED_SECRET "
        "or create /etc/secrets/surely-not-a-mounted-secret"
    )


@pytest.mark.parametrize("key", ["../outside", "sub/secret", "..", "."])
def test_a_key_never_reads_outside_the_secrets_directory(secrets_dir: Path, key: str) -> None:
    (secrets_dir / "sub").mkdir()
    (secrets_dir / "sub" / "secret").write_text("nested")
    (secrets_dir.parent / "outside").write_text("outside")
    with pytest.raises(ConfigurationError, match=r"^secret .* not found: set \$CONNECTOR_SECRET_"):
        get_connector_secret(key)


def test_a_directory_is_not_a_secret(secrets_dir: Path) -> None:
    (secrets_dir / "folder").mkdir()
    with pytest.raises(ConfigurationError):
        get_connector_secret("folder")
