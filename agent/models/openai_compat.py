"""A chat model behind the OpenAI chat-completions protocol (Ollama, vLLM, llama.cpp, OpenAI).

One non-streaming ``POST {base_url}/chat/completions`` per call, over ``httpx`` with separate
connect/read timeouts. Connection failures, timeouts, 408, 429 and 5xx are retried with
exponential back-off and jitter (``Retry-After`` honoured); other 4xx are not. The body is read
with a size cap: an oversized reply keeps its head instead of exhausting memory. ``httpx``
errors are translated here into ``ModelUnavailable`` / ``ModelProtocolError``.

A reply is only ever returned as text; nothing in it is executed.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from codemend.agent.models.base import Completion
from codemend.agent.models.errors import START_HINT, ModelProtocolError, ModelUnavailable
from codemend.sandbox.errors import InfraError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

log = logging.getLogger("codemend.models")

ENVELOPE_BYTES = 64 * 1024  # room for the JSON around the reply text (id, usage, escapes)
SNIPPET_CHARS = 200
RATE_HINT = "the server is rate-limiting: wait and try again, or pick another with --model"
SLOW_HINT = ("the model may be loading or too slow: raise the read timeout, or pick a smaller "
             "one with --model")
ANSWERED_HINT = ("the server answered with an error: see its own message above and its log, "
                 "or pick another with --model")


class OpenAICompatConfig(BaseModel):
    """Where the model lives and how patiently to talk to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    """Server root including the version prefix, e.g. ``http://localhost:11434/v1``."""
    model: str = Field(min_length=1)
    """Model name sent in the request, e.g. ``qwen2.5-coder:7b``."""
    api_key: SecretStr | None = None
    """Bearer token, sent as ``Authorization``; never logged."""
    api_key_env: str = "CODEMEND_API_KEY"
    """The environment variable the key came from, named in 401/403 messages."""
    temperature: float | None = Field(None, ge=0)
    """Sampling temperature; sent only when set."""
    seed: int | None = None
    """Sampling seed for reproducible replies (where the server supports it); sent only when set."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """Seconds to wait for a TCP/TLS connection."""
    read_timeout_s: float = Field(default=120.0, gt=0)
    """Seconds to wait for the server between bytes (generation happens before the first one)."""
    max_retries: int = Field(default=4, ge=0)
    """Retries after the first try on connection errors, timeouts, 408, 429 and 5xx."""
    backoff_base_s: float = Field(default=0.5, ge=0)
    """First back-off delay; doubles on every retry (with jitter)."""
    backoff_max_s: float = Field(default=20.0, ge=0)
    """Longest single wait, for back-off and for a server's ``Retry-After`` alike."""
    max_reply_bytes: int = Field(default=2_000_000, ge=1024)
    """Largest reply text kept (UTF-8 bytes); a longer reply is cut, keeping its head."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {value!r} ({exc})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value


class _Retry(Exception):
    """A failed try worth repeating; ``final`` is the error raised when retries run out."""

    def __init__(self, reason: str, final: type[InfraError], *, retry_after: float | None = None,
                 hint: str = START_HINT) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final
        self.retry_after = retry_after
        self.hint = hint


class OpenAICompatModel:
    """``Model`` over the OpenAI chat-completions protocol. Close it (or use ``with``)."""

    def __init__(
        self,
        config: OpenAICompatConfig,
        *,
        name: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.name = name or f"openai-compat:{config.model}"
        self.url = f"{config.base_url}/chat/completions"
        self._sleep = sleep
        self._rng = rng or random.Random()
        headers = {"User-Agent": "codemend"}
        if config.api_key is not None:
            headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        timeout = httpx.Timeout(
            connect=config.connect_timeout_s,
            read=config.read_timeout_s,
            write=config.read_timeout_s,
            pool=config.connect_timeout_s,
        )
        self._client = httpx.Client(transport=transport, timeout=timeout, headers=headers)
        log.info("model %s at %s (temperature=%s, seed=%s)",
                 self.name, config.base_url, config.temperature, config.seed)

    def __enter__(self) -> OpenAICompatModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections. Safe to call more than once."""
        self._client.close()

    def complete(self, messages: list[dict[str, str]], *, call_index: int = 0) -> Completion:
        """Send the chat and return the first choice; ``call_index`` is ignored."""
        payload: dict[str, Any] = {
            "model": self.config.model, "messages": messages, "stream": False}
        if self.config.temperature is not None:
            payload["temperature"] = self.config.temperature
        if self.config.seed is not None:
            payload["seed"] = self.config.seed
        log.debug("POST %s model=%s messages=%d temperature=%s seed=%s", self.url,
                  self.config.model, len(messages), self.config.temperature, self.config.seed)
        start = time.monotonic()
        raw, cut, attempts = self._post_with_retries(payload)
        completion = self._parse(raw, cut)
        return completion.model_copy(update={
            "duration_s": time.monotonic() - start, "attempts": attempts})

    # -- transport -------------------------------------------------------------------------

    def _post_with_retries(self, payload: dict[str, Any]) -> tuple[bytes, bool, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                raw, cut = self._post_once(payload)
                return raw, cut, attempt
            except _Retry as failure:
                if attempt > self.config.max_retries:
                    raise self._final_error(failure, attempt) from None
                delay = self._delay(attempt, failure.retry_after)
                log.warning("model server %s: %s; retry %d/%d in %.1fs", self.url,
                            failure.reason, attempt, self.config.max_retries, delay)
                self._sleep(delay)

    def _post_once(self, payload: dict[str, Any]) -> tuple[bytes, bool]:
        """One HTTP try: the (capped) body and whether it was cut, or ``_Retry``."""
        read_s = self.config.read_timeout_s
        try:
            with self._client.stream("POST", self.url, json=payload) as resp:
                status = resp.status_code
                if status in (408, 429) or status >= 500:
                    after = _retry_after(resp.headers.get("retry-after"))
                    # the server answered: keep its own words, and don't say "start it"
                    detail = _error_detail(_read_capped(resp, 4096)[0])
                    reason = f"HTTP {status}" + (f" ({detail})" if detail else "")
                    hint = RATE_HINT if status == 429 else ANSWERED_HINT
                    raise _Retry(reason, ModelUnavailable, retry_after=after, hint=hint)
                if not 200 <= status < 300:
                    body, _ = _read_capped(resp, 4096)
                    raise ModelProtocolError(self._status_message(resp, body))
                return _read_capped(resp, self.config.max_reply_bytes + ENVELOPE_BYTES)
        except httpx.ConnectTimeout:
            raise _Retry(f"connect timed out after {self.config.connect_timeout_s:g}s",
                         ModelUnavailable) from None
        except (httpx.ConnectError, httpx.PoolTimeout) as exc:
            raise _Retry(f"cannot connect ({_short(exc)})", ModelUnavailable) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            raise _Retry(f"no reply within {read_s:g}s (read timeout)", ModelUnavailable,
                         hint=SLOW_HINT) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise _Retry(f"connection broken mid-reply, reply cut off ({_short(exc)})",
                         ModelProtocolError) from None
        except httpx.HTTPError as exc:
            raise ModelProtocolError(
                f"model server {self.url} failed: {type(exc).__name__}: {_short(exc)}") from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = self.config.backoff_max_s
        if retry_after is not None:
            return min(retry_after, cap)
        base = min(cap, self.config.backoff_base_s * 2 ** (attempt - 1))
        return base / 2 + self._rng.uniform(0, base / 2)

    def _final_error(self, failure: _Retry, attempts: int) -> InfraError:
        tried = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
        if failure.final is ModelUnavailable:
            return ModelUnavailable(
                f"model server at {self.url} unavailable: {failure.reason} {tried}; {failure.hint}")
        return failure.final(f"model server at {self.url}: {failure.reason} {tried}")

    def _status_message(self, resp: httpx.Response, body: bytes) -> str:
        status = resp.status_code
        detail = _error_detail(body)
        msg = f"model server at {self.url} refused the request: HTTP {status}"
        if detail:
            msg += f" ({detail})"
        if status in (401, 403):
            var = self.config.api_key_env
            msg += (f"; check the API key in {var}" if self.config.api_key is not None
                    else f"; no API key was sent: set {var}")
        elif status == 404:
            msg += (f"; is model {self.config.model!r} available there (Ollama: `ollama pull "
                    f"{self.config.model}`) and is the base URL right?")
        elif 300 <= status < 400:
            msg += f"; redirected to {resp.headers.get('location', '?')}, check the base URL"
        return msg

    # -- reply -----------------------------------------------------------------------------

    def _parse(self, raw: bytes, cut: bool) -> Completion:
        """Turn a (possibly cut) response body into a ``Completion``."""
        if cut:
            text = _salvage_content(raw.decode("utf-8", "ignore"))
            if text is None:
                raise ModelProtocolError(
                    f"model server at {self.url} sent a reply over "
                    f"{len(raw)} bytes with no message text in its head")
            log.warning("reply from %s over %d bytes; keeping its head", self.url, len(raw))
            return self._completion(text, {}, cut=True)
        try:
            data = json.loads(raw, strict=False)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelProtocolError(
                f"model server at {self.url} sent invalid JSON: {_snippet(raw)!r}") from None
        if not isinstance(data, dict):
            raise ModelProtocolError(
                f"model server at {self.url} sent JSON that is not an object: {_snippet(raw)!r}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            error = _error_detail(raw)
            what = f"an error: {error}" if error else f"no choices: {_snippet(raw)!r}"
            raise ModelProtocolError(f"model server at {self.url} sent {what}")
        choice = choices[0]
        if choice.get("finish_reason") == "length":
            log.warning("reply from %s stopped at the token limit", self.url)
        return self._completion(_choice_text(choice, self.url), data)

    def _completion(self, text: str, data: dict[str, Any], *, cut: bool = False) -> Completion:
        limit = self.config.max_reply_bytes
        encoded = text.encode("utf-8", "replace")  # also replaces lone surrogates from \\ud800
        cut = cut or len(encoded) > limit
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        model = data.get("model")
        return Completion(
            text=encoded[:limit].decode("utf-8", "ignore"),
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            model=model if isinstance(model, str) and model else self.config.model,
            truncated=cut,
        )


# -- helpers ---------------------------------------------------------------------------------


def _read_capped(resp: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """Read at most ``cap`` (decoded) body bytes; True when more was left unread."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _choice_text(choice: dict[str, Any], url: str) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else choice.get("text")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        content = "".join(p.get("text", "") for p in content
                          if isinstance(p, dict) and isinstance(p.get("text"), str))
    if content is None:
        log.warning("reply from %s has no message content", url)
        return ""
    if not isinstance(content, str):
        raise ModelProtocolError(
            f"model server at {url} sent message content of type {type(content).__name__}")
    return content


_CONTENT = re.compile(r'"content"\s*:\s*"')
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)


def _salvage_content(head: str) -> str | None:
    """The message text from the head of a cut-off JSON body, or None if there is none."""
    key = _CONTENT.search(head)
    if key is None:
        return None
    body = _STRING_BODY.match(head, key.end())
    assert body is not None  # the pattern matches the empty string
    escaped = body.group()
    for trim in range(6):  # a cut may split an escape such as \u00e9
        try:
            return json.loads(f'"{escaped[:len(escaped) - trim]}"', strict=False)
        except json.JSONDecodeError:
            continue
    return None


def _count(value: object) -> int:
    """A token count from ``usage``; anything odd counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value) if math.isfinite(value) and value > 0 else 0


def _error_detail(body: bytes) -> str:
    """The ``error.message`` of an OpenAI-style error body, else a short snippet."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _snippet(body)
    error = data.get("error") or data.get("detail") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return _snippet(str(error).encode()) if error else ""


def _snippet(raw: bytes) -> str:
    text = " ".join(raw[: SNIPPET_CHARS * 4].decode("utf-8", "replace").split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "..."


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:SNIPPET_CHARS] or type(exc).__name__
