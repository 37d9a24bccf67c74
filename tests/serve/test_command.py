"""``dfembed serve``'s command line: its help, a missing extra, and the warning for an exposed service."""

from __future__ import annotations

import logging
import sys

import pytest
from click.testing import CliRunner


def test_the_help_lists_the_endpoints_and_the_options_in_sections() -> None:
    from dfembed.commands.serve import serve_command

    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0
    for text in ("POST /v1/score", "Network options", "Limits options", "--max-upload-mb", "DFEMBED_SERVE_TOKEN"):
        assert text in result.output


def test_a_missing_uvicorn_is_one_line_naming_the_extra(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.commands.serve import serve_command

    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    result = CliRunner().invoke(serve_command, [str(model)])
    assert result.exit_code == 1
    assert result.output.strip() == 'Error: dfembed serve needs uvicorn, which is not installed: pip install -e ".[serve]"'


@pytest.mark.parametrize(("host", "token", "warned"), [("0.0.0.0", None, True), ("192.168.1.5", None, True),
                                                       ("0.0.0.0", "t", False), ("127.0.0.1", None, False),
                                                       ("::1", None, False), ("localhost", None, False)])
def test_binding_beyond_loopback_without_a_token_is_warned(host: str, token: str | None, warned: bool,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    from dfembed.commands.serve import _warn_if_exposed

    with caplog.at_level(logging.WARNING):
        _warn_if_exposed(host, token)
    assert ("without a token" in caplog.text) is warned
