"""OpenAICompatModel against a real local OpenAI-protocol server (tests/openai_server.py)."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from codemend.agent.models import resolve_model
from codemend.agent.models.errors import ModelProtocolError, ModelUnavailable
from codemend.agent.models.openai_compat import OpenAICompatConfig, OpenAICompatModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai_server import (
    OpenAIServer,
    huge,
    invalid_json,
    json_reply,
    no_choices,
    ok,
    stall,
    status,
    truncated,
)

CHAT = [{"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write add(a, b)."}]

MakeModel = Callable[..., OpenAICompatModel]


@pytest.fixture
def sleeps() -> list[float]:
    """Arguments of every back-off sleep (the injected sleep records instead of waiting)."""
    return []


@pytest.fixture
def make(sleeps: list[float]) -> Iterator[MakeModel]:
    """Build models whose sleep is recorded; all are closed after the test."""
    models: list[OpenAICompatModel] = []

    def build(base_url: str, transport: httpx.BaseTransport | None = None,
              **settings: Any) -> OpenAICompatModel:
        config = OpenAICompatConfig(base_url=base_url, model=settings.pop("model", "m"),
                                    **settings)
        model = OpenAICompatModel(config, transport=transport, sleep=sleeps.append)
        models.append(model)
        return model

    yield build
    for model in models:
        model.close()


def _free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- normal replies --------------------------------------------------------------------------


def test_reply_text_usage_and_request_body(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(ok("def add(a, b):\n    return a + b",
                           usage={"prompt_tokens": 12, "completion_tokens": 7}))
    reply = make(openai_server.url, model="qwen2.5-coder:7b").complete(CHAT)
    assert reply.text == "def add(a, b):\n    return a + b"
    assert (reply.prompt_tokens, reply.completion_tokens) == (12, 7)
    assert reply.model == "served-model" and reply.attempts == 1 and not reply.truncated
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.json == {"model": "qwen2.5-coder:7b", "messages": CHAT, "stream": False}
    assert "authorization" not in {k.lower() for k in request.headers}


def test_temperature_seed_and_key_are_sent_and_logged(
        openai_server: OpenAIServer, make: MakeModel, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="codemend.models")
    make(openai_server.url, temperature=0.2, seed=7, api_key="sk-secret").complete(CHAT)
    [request] = openai_server.requests
    assert request.json["temperature"] == 0.2 and request.json["seed"] == 7
    assert request.headers["Authorization"] == "Bearer sk-secret"
    assert "temperature=0.2" in caplog.text and "seed=7" in caplog.text
    assert "sk-secret" not in caplog.text


@pytest.mark.parametrize("usage", [None, {}, {"prompt_tokens": None, "completion_tokens": "x"},
                                   {"prompt_tokens": -3, "completion_tokens": 1e400}])
def test_missing_or_odd_usage_counts_zero(openai_server: OpenAIServer, make: MakeModel, usage):
    openai_server.queue(ok("hi", usage=usage))
    reply = make(openai_server.url).complete(CHAT)
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("hi", 0, 0)


def test_reply_without_code_is_returned_as_is(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(ok("I am not able to help with that."))
    assert make(openai_server.url).complete(CHAT).text == "I am not able to help with that."


def test_shell_instructions_are_only_text(openai_server: OpenAIServer, make: MakeModel,
                                          tmp_path: Path):
    marker = tmp_path / "pwned"
    text = f"First run this:\n```sh\ntouch {marker}\n```\nthen `$(touch {marker})`."
    openai_server.queue(ok(text))
    assert make(openai_server.url).complete(CHAT).text == text
    assert not marker.exists()


def test_resolve_model_end_to_end(openai_server: OpenAIServer):
    openai_server.queue(ok("done", usage={"prompt_tokens": 3, "completion_tokens": 1}))
    model = resolve_model("openai-compat:m", base_url=openai_server.url, seed=1)
    try:
        reply = model.complete(CHAT, call_index=5)
    finally:
        model.close()
    assert model.name == "openai-compat:m"
    assert (reply.text, reply.prompt_tokens, reply.attempts) == ("done", 3, 1)
    assert openai_server.requests[0].json["model"] == "m"
    assert openai_server.requests[0].json["seed"] == 1


# -- retries ---------------------------------------------------------------------------------


def test_429_honours_retry_after(openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.queue(status(429, retry_after="3"), ok("after"))
    reply = make(openai_server.url).complete(CHAT)
    assert (reply.text, reply.attempts, sleeps) == ("after", 2, [3.0])


def test_429_exhausted_says_rate_limited(openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.default = status(429, retry_after="1")
    with pytest.raises(ModelUnavailable, match="HTTP 429 after 2 attempts; .*rate-limiting"):
        make(openai_server.url, max_retries=1).complete(CHAT)
    assert sleeps == [1.0]


def test_retry_after_is_capped(openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.queue(status(429, retry_after="3600"), ok())
    make(openai_server.url, backoff_max_s=20).complete(CHAT)
    assert sleeps == [20.0]


def test_retry_after_http_date(openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.queue(status(503, retry_after=email.utils.formatdate(time.time() + 5,
                                                                        usegmt=True)), ok())
    make(openai_server.url).complete(CHAT)
    assert len(sleeps) == 1 and 2 <= sleeps[0] <= 6


def test_5xx_then_success_backs_off_with_jitter(openai_server: OpenAIServer, make: MakeModel,
                                                sleeps):
    openai_server.queue(status(500), status(502), status(503), ok("finally"))
    reply = make(openai_server.url, backoff_base_s=0.5).complete(CHAT)
    assert (reply.text, reply.attempts, len(openai_server.requests)) == ("finally", 4, 4)
    for k, delay in enumerate(sleeps):
        full = 0.5 * 2**k
        assert full / 2 <= delay <= full


def test_5xx_exhausted_is_unavailable(openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.default = status(503)
    with pytest.raises(ModelUnavailable) as info:
        make(openai_server.url, max_retries=2).complete(CHAT)
    assert info.value.exit_code == 4
    assert openai_server.url in str(info.value) and "HTTP 503" in str(info.value)
    assert "after 3 attempts" in str(info.value)
    assert len(openai_server.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(("code", "hint"), [(400, "bad messages"), (401, "API key"),
                                            (404, "ollama pull m"), (422, "bad messages")])
def test_other_4xx_not_retried(openai_server: OpenAIServer, make: MakeModel, sleeps, code, hint):
    openai_server.queue(json_reply({"error": {"message": "bad messages"}}, status_code=code))
    with pytest.raises(ModelProtocolError) as info:
        make(openai_server.url).complete(CHAT)
    assert f"HTTP {code}" in str(info.value) and hint in str(info.value)
    assert info.value.exit_code == 4 and len(openai_server.requests) == 1 and sleeps == []


def test_stall_trips_read_timeout_then_recovers(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(stall(10), ok("quick"))
    reply = make(openai_server.url, read_timeout_s=0.3).complete(CHAT)
    assert (reply.text, reply.attempts) == ("quick", 2)


def test_stall_every_time_is_unavailable(openai_server: OpenAIServer, make: MakeModel):
    openai_server.default = stall(10)
    with pytest.raises(ModelUnavailable, match="read timeout.*after 2 attempts.*read timeout"):
        make(openai_server.url, read_timeout_s=0.2, max_retries=1).complete(CHAT)


def test_connection_refused(make: MakeModel, sleeps):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(ModelUnavailable) as info:
        make(url, max_retries=2).complete(CHAT)
    message = str(info.value)
    assert f"{url}/chat/completions" in message and "ollama serve" in message
    assert "--model" in message and "after 3 attempts" in message
    assert info.value.exit_code == 4 and len(sleeps) == 2


def test_connect_timeout(make: MakeModel, sleeps):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectTimeout("timed out", request=request)

    model = make("http://localhost:11434/v1", transport=httpx.MockTransport(handler),
                 max_retries=3)
    with pytest.raises(ModelUnavailable, match="connect timed out after 5s after 4 attempts"):
        model.complete(CHAT)
    assert len(calls) == 4 and len(sleeps) == 3


# -- unusable replies ------------------------------------------------------------------------


def test_invalid_json(openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.queue(invalid_json())
    with pytest.raises(ModelProtocolError, match="invalid JSON: '<html>this is not json'"):
        make(openai_server.url).complete(CHAT)
    assert len(openai_server.requests) == 1 and sleeps == []


def test_empty_choices(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(no_choices())
    with pytest.raises(ModelProtocolError, match="no choices"):
        make(openai_server.url).complete(CHAT)


def test_error_object_with_200(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(json_reply({"error": "model 'm' not found"}))
    with pytest.raises(ModelProtocolError, match="sent an error: model 'm' not found"):
        make(openai_server.url).complete(CHAT)


def test_truncated_body_is_retried(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(truncated(), ok("whole"))
    reply = make(openai_server.url).complete(CHAT)
    assert (reply.text, reply.attempts) == ("whole", 2)


def test_truncated_every_time_is_protocol_error(openai_server: OpenAIServer, make: MakeModel):
    openai_server.default = truncated()
    with pytest.raises(ModelProtocolError, match="cut off.*after 2 attempts") as info:
        make(openai_server.url, max_retries=1).complete(CHAT)
    assert info.value.exit_code == 4


def test_5mb_reply_keeps_its_head(openai_server: OpenAIServer, make: MakeModel):
    openai_server.queue(huge(5_000_000))
    reply = make(openai_server.url).complete(CHAT)
    assert reply.truncated and reply.text == "x" * 2_000_000


def test_oversized_reply_without_text_in_its_head(make: MakeModel):
    body = json.dumps({"id": "y" * 200_000, "choices": []}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with pytest.raises(ModelProtocolError, match="no message text in its head"):
        make("http://localhost:1/v1", transport=transport, max_reply_bytes=1024).complete(CHAT)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(chunk=st.text(min_size=1, max_size=40), ascii_only=st.booleans(),
       cap=st.integers(1024, 4096))
def test_cut_reply_text_is_a_prefix_within_the_cap(chunk: str, ascii_only: bool, cap: int):
    text = chunk * (70_000 // len(chunk.encode()) + 2)  # past the cap + JSON envelope
    body = json.dumps({"choices": [{"message": {"content": text}}]},
                      ensure_ascii=ascii_only).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    config = OpenAICompatConfig(base_url="http://localhost:1/v1", model="m", max_reply_bytes=cap)
    with OpenAICompatModel(config, transport=transport, sleep=lambda s: None) as model:
        reply = model.complete(CHAT)
    assert reply.truncated and text.startswith(reply.text)
    assert cap - 4 < len(reply.text.encode()) <= cap


# -- messages that point the right way ---------------------------------------------------------

LITELLM_500 = {"error": {"message": "litellm.APIConnectionError: upstream model crashed",
                         "type": None, "param": None, "code": "500"}}


def test_5xx_keeps_the_servers_own_error_and_does_not_say_start_it(
        openai_server: OpenAIServer, make: MakeModel, sleeps):
    openai_server.default = json_reply(LITELLM_500, status_code=500)
    with pytest.raises(ModelUnavailable) as info:
        make(openai_server.url, max_retries=1).complete(CHAT)
    message = str(info.value)
    assert "upstream model crashed" in message and "HTTP 500" in message
    assert "ollama serve" not in message and "answered with an error" in message


@pytest.mark.parametrize(("spec", "var"), [("ollama:m", "CODEMEND_API_KEY"),
                                           ("vllm:m", "CODEMEND_API_KEY"),
                                           ("llamacpp:m", "CODEMEND_API_KEY"),
                                           ("openai-compat:m", "CODEMEND_API_KEY"),
                                           ("openai:m", "OPENAI_API_KEY")])
def test_401_names_the_variable_the_provider_reads(openai_server: OpenAIServer, monkeypatch,
                                                   spec, var):
    monkeypatch.setenv(var, "wrong-key")
    openai_server.queue(json_reply({"error": {"message": "invalid api key"}}, status_code=401))
    model = resolve_model(spec, base_url=openai_server.url, seed=None)
    try:
        with pytest.raises(ModelProtocolError) as info:
            model.complete(CHAT)
    finally:
        model.close()
    message = str(info.value)
    assert f"check the API key in {var}" in message and "invalid api key" in message
    other = {"CODEMEND_API_KEY", "OPENAI_API_KEY"} - {var}
    assert not any(o in message for o in other)
    assert openai_server.requests[0].headers.get("Authorization") == "Bearer wrong-key"


def test_401_without_a_key_says_to_set_it(openai_server: OpenAIServer, monkeypatch):
    monkeypatch.delenv("CODEMEND_API_KEY", raising=False)
    openai_server.queue(json_reply({"error": {"message": "auth required"}}, status_code=401))
    model = resolve_model("vllm:m", base_url=openai_server.url, seed=None)
    try:
        with pytest.raises(ModelProtocolError, match="no API key was sent: set CODEMEND_API_KEY"):
            model.complete(CHAT)
    finally:
        model.close()
