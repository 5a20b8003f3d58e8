from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    for name in ("SUPPORTBOT_TELEGRAM_TOKEN", "SUPPORTBOT_PORT", "SUPPORTBOT_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def serve_error(*args: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main(["serve", *args])
    return str(caught.value.code)


def test_no_bundle_is_one_clear_error() -> None:
    message = serve_error("--port", "18081")
    assert message.startswith("supportbot serve: error: ") and "make demo-bundle" in message


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_THREADS", "many")
    assert "SUPPORTBOT_THREADS" in serve_error()
    monkeypatch.delenv("SUPPORTBOT_THREADS")
    monkeypatch.setenv("SUPPORTBOT_ADMIN_TOKEN", "short")
    assert "SUPPORTBOT_ADMIN_TOKEN" in serve_error()


def test_a_database_in_no_directory_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_DB", str(tmp_path / "no" / "such" / "x.db"))
    assert serve_error() == (f"supportbot serve: error: SUPPORTBOT_DB: the directory {tmp_path / 'no' / 'such'} of "
                             "the SQLite database does not exist; create it, or correct the path")
    assert not (tmp_path / "no").exists()


def test_a_bad_flag_is_named_as_the_flag_and_a_bad_variable_as_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert serve_error("--port", "99999") == "supportbot serve: error: --port: expected a port between 1 and 65535"
    monkeypatch.setenv("SUPPORTBOT_PORT", "8080")
    assert serve_error("--port", "0").startswith("supportbot serve: error: --port: expected")
    monkeypatch.setenv("SUPPORTBOT_PORT", "99999")
    assert serve_error().startswith("supportbot serve: error: SUPPORTBOT_PORT: expected")
    monkeypatch.delenv("SUPPORTBOT_PORT")
    assert serve_error("--db", str(tmp_path / "no" / "x.db")).startswith(
        f"supportbot serve: error: --db: the directory {tmp_path / 'no'} of the SQLite database does not exist")


def test_bad_telegram_token_is_a_clean_error_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_TELEGRAM_TOKEN", "not-a-token-secret-value")
    message = serve_error()
    assert "SUPPORTBOT_TELEGRAM_TOKEN" in message and "not-a-token-secret-value" not in message


def test_a_broken_phrases_file_is_a_clean_error_that_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "phrases.yaml"
    broken.write_text("thanks: [gracias\n", encoding="utf-8")
    monkeypatch.setattr("bot.app.DEFAULT_PHRASES", broken)
    message = serve_error("--port", "18082")
    assert message.startswith(f"supportbot serve: error: {broken}: cannot read the intent phrases"), message
    broken.write_text("thanks: [ciao]\ngoodbye: [Ciao!]\n", encoding="utf-8")
    assert "the phrase 'Ciao!' is listed for both 'thanks' and 'goodbye'" in serve_error("--port", "18082")


def test_the_shops_own_word_lists_are_named_by_settings_and_checked_at_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-companies.yaml"
    monkeypatch.setenv("SUPPORTBOT_OTHER_COMPANIES_FILE", str(missing))
    assert serve_error("--port", "18083").startswith(
        f"supportbot serve: error: SUPPORTBOT_OTHER_COMPANIES_FILE: {missing}: cannot read the other companies")
    monkeypatch.delenv("SUPPORTBOT_OTHER_COMPANIES_FILE")
    broken = tmp_path / "phrases.yaml"
    broken.write_text("thanks: [ciao]\ngoodbye: [Ciao!]\n", encoding="utf-8")
    monkeypatch.setenv("SUPPORTBOT_PHRASES_FILE", str(broken))
    message = serve_error("--port", "18083")
    assert message.startswith(f"supportbot serve: error: SUPPORTBOT_PHRASES_FILE: {broken}"), message
    assert "listed for both 'thanks' and 'goodbye'" in message
    monkeypatch.delenv("SUPPORTBOT_PHRASES_FILE")
    glossary = tmp_path / "glossary.yaml"
    glossary.write_text("languages: {es: {envío: shipping}}\n", encoding="utf-8")
    monkeypatch.setenv("SUPPORTBOT_GLOSSARY_FILE", str(glossary))
    message = serve_error("--port", "18083")
    assert message == (f"supportbot serve: error: SUPPORTBOT_GLOSSARY_FILE: {glossary}: not a glossary "
                       "(expected 'format: supportbot-glossary')"), message
