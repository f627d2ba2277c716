"""Model backends by short name: ``resolve_model("provider:name")`` returns a ``Model``.

Providers: ``ollama``, ``vllm``, ``llamacpp``, ``openai``, ``openai-compat`` (all the OpenAI
chat-completions protocol, see ``openai_compat``) and ``scripted`` (canned replies from a file).
Backends are imported only when asked for.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from codemend.agent.models.base import Completion, Model
from codemend.agent.models.errors import ModelProtocolError, ModelUnavailable, ScriptExhausted
from codemend.sandbox.errors import BadInput
from pydantic import ValidationError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "PROVIDERS",
    "Completion",
    "Model",
    "ModelProtocolError",
    "ModelUnavailable",
    "ScriptExhausted",
    "ollama_base_url",
    "resolve_model",
]

PROVIDERS: dict[str, str] = {
    "ollama": "a local Ollama server (OLLAMA_HOST, default http://localhost:11434/v1)",
    "vllm": "a vLLM server (default http://localhost:8000/v1)",
    "llamacpp": "a llama.cpp server (default http://localhost:8080/v1)",
    "openai": "the OpenAI API (OPENAI_API_KEY; OPENAI_BASE_URL)",
    "openai-compat": "any OpenAI-compatible server; needs --base-url",
    "scripted": "canned replies from a TOML/JSON file: scripted:PATH",
}
"""Every provider short name, with a one-line description (for help texts and errors)."""

DEFAULT_URLS = {
    "vllm": "http://localhost:8000/v1",
    "llamacpp": "http://localhost:8080/v1",
    "openai": "https://api.openai.com/v1",
}
API_KEY_ENV = "CODEMEND_API_KEY"  # optional bearer token for ollama/vllm/llamacpp/openai-compat


def resolve_model(
    spec: str,
    *,
    base_url: str | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    timeout_s: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Model:
    """Build the model named by ``spec`` (``provider:name``, split at the first colon).

    ``base_url`` overrides the provider's default URL; ``timeout_s`` is the read timeout.
    The scripted provider ignores every option. Raises ``BadInput`` for a bad spec.
    """
    provider, sep, name = spec.partition(":")
    provider = provider.strip().lower()
    name = name.strip()
    if not sep or provider not in PROVIDERS:
        what = f"unknown model provider {provider!r}" if sep else "missing provider"
        raise BadInput(f"--model {spec!r}: {what}; use PROVIDER:NAME with PROVIDER one of "
                       f"{', '.join(PROVIDERS)} (e.g. ollama:qwen2.5-coder:7b)")
    if not name:
        raise BadInput(f"--model {spec!r}: the model name after {provider + ':'!r} is empty")
    if provider == "scripted":
        scripted = importlib.import_module("codemend.agent.models.scripted")
        return scripted.ScriptedModel(name)
    return _openai_compat(provider, name, spec, base_url=base_url, temperature=temperature,
                          seed=seed, timeout_s=timeout_s, transport=transport)


def _openai_compat(
    provider: str,
    name: str,
    spec: str,
    *,
    base_url: str | None,
    temperature: float | None,
    seed: int | None,
    timeout_s: float | None,
    transport: httpx.BaseTransport | None,
) -> Model:
    backend = importlib.import_module("codemend.agent.models.openai_compat")
    api_key = os.environ.get(API_KEY_ENV) or None
    if provider == "openai":
        api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            raise BadInput(f"--model {spec!r}: set OPENAI_API_KEY in the environment")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_URLS["openai"]
    elif provider == "ollama":
        base_url = base_url or ollama_base_url(os.environ.get("OLLAMA_HOST"))
    elif provider == "openai-compat" and not base_url:
        raise BadInput(f"--model {spec!r}: openai-compat needs the server's URL; pass "
                       "--base-url http://HOST:PORT/v1")
    settings: dict[str, object] = {
        "base_url": base_url or DEFAULT_URLS[provider], "model": name, "api_key": api_key,
        "api_key_env": "OPENAI_API_KEY" if provider == "openai" else API_KEY_ENV,
        "temperature": temperature, "seed": seed}
    if timeout_s is not None:
        settings["read_timeout_s"] = timeout_s
    try:
        config = backend.OpenAICompatConfig(**settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        raise BadInput(f"--model {spec!r}: bad {field}: {first['msg']}") from None
    return backend.OpenAICompatModel(config, name=spec, transport=transport)


def ollama_base_url(host: str | None) -> str:
    """The OpenAI-compatible URL of the Ollama server named by ``OLLAMA_HOST``.

    Mirrors Ollama's own parsing: ``host``, ``host:port`` or a URL; no scheme means http on
    port 11434; ``http://`` / ``https://`` without a port mean 80 / 443. A bind-all address
    (``0.0.0.0``) or none at all means ``localhost``.
    """
    value = (host or "").strip()
    scheme, has_scheme, rest = value.partition("://")
    if not has_scheme:
        scheme, rest, port = "http", value, "11434"
    else:
        port = "443" if scheme == "https" else "80"
    hostport, _, path = rest.partition("/")
    hostname = hostport
    if hostport.startswith("["):  # [ipv6] or [ipv6]:port
        hostname, _, tail = hostport[1:].partition("]")
        port = tail.removeprefix(":") or port
    elif hostport.count(":") == 1:
        hostname, _, port = hostport.partition(":")
    hostname = {"": "localhost", "0.0.0.0": "localhost", "::": "::1"}.get(hostname, hostname)
    if ":" in hostname:
        hostname = f"[{hostname}]"
    path = path.strip("/")
    prefix = f"/{path}" if path else ""
    suffix = "" if path.endswith("v1") else "/v1"
    return f"{scheme}://{hostname}:{port}{prefix}{suffix}"
