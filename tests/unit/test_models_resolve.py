"""resolve_model: provider:name specs, default URLs, environment, settings passthrough."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from codemend.agent.models import PROVIDERS, Model, ollama_base_url, resolve_model
from codemend.agent.models.openai_compat import OpenAICompatModel
from codemend.sandbox.errors import BadInput


def _resolve(spec: str, **kwargs) -> OpenAICompatModel:
    model = resolve_model(spec, **kwargs)
    model.close()
    assert isinstance(model, OpenAICompatModel) and isinstance(model, Model)
    return model


def test_split_at_first_colon():
    model = _resolve("ollama:qwen2.5-coder:7b")
    assert model.config.model == "qwen2.5-coder:7b"
    assert model.name == "ollama:qwen2.5-coder:7b"
    assert model.config.base_url == "http://localhost:11434/v1"


@pytest.mark.parametrize(("provider", "url"), [
    ("vllm", "http://localhost:8000/v1"),
    ("llamacpp", "http://localhost:8080/v1"),
])
def test_default_urls(provider: str, url: str):
    assert _resolve(f"{provider}:m").config.base_url == url


def test_base_url_overrides_default_and_trailing_slash_is_dropped():
    model = _resolve("vllm:m", base_url="http://127.0.0.1:9000/v1/")
    assert model.url == "http://127.0.0.1:9000/v1/chat/completions"


@pytest.mark.parametrize(("host", "url"), [
    (None, "http://localhost:11434/v1"),
    ("", "http://localhost:11434/v1"),
    ("gpu-box", "http://gpu-box:11434/v1"),
    ("gpu-box:9999", "http://gpu-box:9999/v1"),
    ("0.0.0.0", "http://localhost:11434/v1"),
    ("0.0.0.0:11500", "http://localhost:11500/v1"),
    ("127.0.0.1", "http://127.0.0.1:11434/v1"),
    ("http://gpu-box", "http://gpu-box:80/v1"),
    ("https://gpu-box", "https://gpu-box:443/v1"),
    ("http://gpu-box:8888/", "http://gpu-box:8888/v1"),
    ("https://proxy.example/ollama", "https://proxy.example:443/ollama/v1"),
    ("[::1]:11434", "http://[::1]:11434/v1"),
    ("::1", "http://[::1]:11434/v1"),
])
def test_ollama_host_forms(host: str | None, url: str):
    assert ollama_base_url(host) == url


def test_ollama_honours_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.2:7000")
    assert _resolve("ollama:llama3").config.base_url == "http://127.0.0.2:7000/v1"
    assert _resolve("ollama:llama3", base_url="http://x:1/v1").config.base_url == "http://x:1/v1"


def test_openai_needs_key_and_honours_base_url(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(BadInput, match="set OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = _resolve("openai:gpt-4o-mini")
    assert model.config.base_url == "https://api.openai.com/v1"
    assert model.config.api_key is not None
    assert model.config.api_key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(model.config)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:4000/v1")
    assert _resolve("openai:gpt-4o-mini").config.base_url == "http://127.0.0.1:4000/v1"


def test_openai_key_never_goes_to_other_providers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert _resolve("vllm:m").config.api_key is None
    monkeypatch.setenv("CODEMEND_API_KEY", "local-key")
    assert _resolve("vllm:m").config.api_key.get_secret_value() == "local-key"


def test_openai_compat_requires_base_url():
    with pytest.raises(BadInput, match="pass --base-url"):
        resolve_model("openai-compat:m")
    assert _resolve("openai-compat:m", base_url="http://localhost:1234/v1").config.model == "m"


@pytest.mark.parametrize("spec", ["nope:m", "qwen2.5-coder", "", ":m"])
def test_unknown_or_missing_provider_lists_providers(spec: str):
    with pytest.raises(BadInput) as info:
        resolve_model(spec)
    message = str(info.value)
    assert all(name in message for name in PROVIDERS) and "PROVIDER:NAME" in message
    assert info.value.exit_code == 2


def test_provider_is_case_insensitive_and_name_required():
    assert _resolve("VLLM:m").config.model == "m"
    with pytest.raises(BadInput, match="model name after 'ollama:' is empty"):
        resolve_model("ollama:")


def test_settings_pass_through():
    model = _resolve("vllm:m", temperature=0.3, seed=42, timeout_s=7.5)
    assert (model.config.temperature, model.config.seed) == (0.3, 42)
    assert model.config.read_timeout_s == 7.5


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"base_url": "ftp://host/v1"}, "base_url"),
    ({"base_url": "not a url"}, "base_url"),
    ({"temperature": -1.0}, "temperature"),
    ({"timeout_s": 0}, "read_timeout_s"),
])
def test_bad_settings_are_bad_input(kwargs: dict, field: str):
    with pytest.raises(BadInput, match=f"bad {field}: ") as info:
        resolve_model("vllm:m", **kwargs)
    assert "\n" not in str(info.value)


def test_requests_go_to_the_provider_url_through_the_transport():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"model": "m", "choices": [
            {"message": {"role": "assistant", "content": "hi"}}]})

    model = resolve_model("ollama:qwen2.5-coder:7b", transport=httpx.MockTransport(handler))
    try:
        assert model.complete([{"role": "user", "content": "x"}]).text == "hi"
    finally:
        model.close()
    assert str(seen[0].url) == "http://localhost:11434/v1/chat/completions"
    assert json.loads(seen[0].content)["model"] == "qwen2.5-coder:7b"


def test_backends_are_imported_lazily():
    code = ("import sys, codemend.agent.models as m; "
            "print(sorted(k for k in sys.modules if k.startswith('codemend.agent.models.'))); "
            "m.resolve_model('vllm:m').close(); print('codemend.agent.models.openai_compat' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split("\n")
    assert out[0] == "['codemend.agent.models.base', 'codemend.agent.models.errors']" and out[1] == "True"
