"""ScriptedModel: replays replies[n] for call n; every bad script is a one-line BadInput."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from codemend.agent.models import Model, resolve_model
from codemend.agent.models.errors import ScriptExhausted
from codemend.agent.models.scripted import ScriptedModel
from codemend.sandbox.errors import BadInput

REPLIES = ["```python\ndef add(a, b):\n    return a - b\n```", "```python\ndef add(a, b):\n"
           "    return a + b\n```"]
CHAT = [{"role": "user", "content": "write add please"}]


@pytest.fixture(params=["toml", "json"])
def script(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The same two replies as a TOML and as a JSON file."""
    path = tmp_path / f"replies.{request.param}"
    if request.param == "json":
        path.write_text(json.dumps({"replies": REPLIES}), encoding="utf-8")
    else:
        items = ",\n".join(json.dumps(r) for r in REPLIES)  # JSON strings are TOML basic strings
        path.write_text(f"replies = [\n{items},\n]\n", encoding="utf-8")
    return path


def test_call_index_picks_the_reply(script: Path):
    model = ScriptedModel(script)
    assert isinstance(model, Model)
    assert model.complete(CHAT, call_index=1).text == REPLIES[1]
    first = model.complete(CHAT, call_index=0)
    assert first.text == REPLIES[0] and first.model == "scripted" and first.attempts == 1
    assert first.prompt_tokens == 3 and first.completion_tokens == len(REPLIES[0].split())
    assert model.requests == [CHAT, CHAT]
    model.close()


def test_resumed_run_continues_the_script(script: Path):
    """A fresh model (a resumed process) given the checkpointed index continues the script."""
    assert ScriptedModel(script).complete(CHAT, call_index=1).text == REPLIES[1]


def test_exhausted_is_a_clear_error(script: Path):
    with pytest.raises(ScriptExhausted) as info:
        ScriptedModel(script).complete(CHAT, call_index=2)
    assert str(info.value) == f"scripted model {script} has 2 replies; call 3 asked for more"
    assert info.value.exit_code == 2


def test_negative_call_index_is_a_bug(script: Path):
    with pytest.raises(ValueError, match="call_index"):
        ScriptedModel(script).complete(CHAT, call_index=-1)


def test_toml_multiline_strings(tmp_path: Path):
    path = tmp_path / "r.toml"
    path.write_text('replies = [\n"""\nfirst\nreply\n""", \'raw \\n\']\n', encoding="utf-8")
    assert ScriptedModel(path).replies == ["first\nreply\n", "raw \\n"]


def test_resolve_scripted(script: Path):
    model = resolve_model(f"scripted:{script}", base_url="http://ignored", seed=3)
    assert isinstance(model, ScriptedModel) and model.name == f"scripted:{script}"
    assert model.complete(CHAT).text == REPLIES[0]


def test_from_replies():
    model = ScriptedModel.from_replies(["only"])
    assert model.complete([]).text == "only"
    with pytest.raises(ScriptExhausted, match="has 1 replies; call 2"):
        model.complete([], call_index=1)


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("r.toml", "replies = [", "invalid TOML"),
    ("r.json", '{"replies": [', "invalid JSON"),
    ("r.toml", 'answers = ["x"]', "missing `replies"),
    ("r.json", '["x"]', "missing `replies"),
    ("r.toml", "replies = []", "non-empty list of strings, got an empty list"),
    ("r.toml", 'replies = "x"', "non-empty list of strings, got str"),
    ("r.json", '{"replies": ["ok", 3]}', "replies[1] must be a string, got int"),
    ("r.txt", '{"replies": {"a": 1}}', "non-empty list of strings, got dict"),
    ("r.txt", 'replies = ["plain toml"', "invalid TOML"),
])
def test_bad_scripts(tmp_path: Path, name: str, content: str, problem: str):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput) as info:
        ScriptedModel(path)
    message = str(info.value)
    assert message.startswith(f"scripted model file {path}: ") and problem in message
    assert "\n" not in message and info.value.exit_code == 2


def test_unsuffixed_toml_and_json_both_load(tmp_path: Path):
    (tmp_path / "a").write_text('replies = ["t"]', encoding="utf-8")
    (tmp_path / "b").write_text('{"replies": ["j"]}', encoding="utf-8")
    assert ScriptedModel(tmp_path / "a").replies == ["t"]
    assert ScriptedModel(tmp_path / "b").replies == ["j"]


def test_missing_file_directory_and_binary(tmp_path: Path):
    with pytest.raises(BadInput, match="nope.toml: not found"):
        ScriptedModel(tmp_path / "nope.toml")
    with pytest.raises(BadInput, match="is a directory"):
        ScriptedModel(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput, match="not UTF-8"):
        ScriptedModel(tmp_path / "bin.toml")
