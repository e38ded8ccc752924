"""The LLM port over any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM).

The ``openai`` client does the wire work, timeouts and retries with back-off;
this adapter adds one thing: every failure, including a reply that does not
validate against the requested schema, becomes an ``LLMError`` so callers have a
single error to fall back on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import openai
from pydantic import BaseModel, ValidationError

from support_core.errors import LLMError
from support_core.ports import LLMReply
from support_core.redaction import mask_url_credentials, redact_messages, redact_text

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class OpenAIChat:
    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 20.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        # Local servers (Ollama, vLLM) accept any key; the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        schema: type[BaseModel] | None = None,
        max_tokens: int = 800,
        temperature: float = 0.2,
    ) -> LLMReply:
        kwargs: dict[str, Any] = {}
        if schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
            }
        try:
            resp = self._client.chat.completions.create(
                model=self.model,
                # nothing sensitive leaves the process, whoever the caller is
                messages=redact_messages(messages),  # type: ignore[arg-type]
                max_tokens=max_tokens,  # type: ignore[arg-type]
                temperature=temperature,
                **kwargs,
            )
        except openai.OpenAIError as exc:
            where = mask_url_credentials(str(self._client.base_url))
            detail = redact_text(mask_url_credentials(str(exc)))
            raise LLMError(f"The language model at {where} failed: {detail}") from exc
        if not resp.choices or resp.choices[0].message.content is None:
            raise LLMError("The language model returned an empty reply.")
        text = resp.choices[0].message.content.strip()
        tokens = resp.usage.total_tokens if resp.usage else 0
        parsed = _parse(text, schema) if schema is not None else None
        return LLMReply(
            text=text, parsed=parsed, tokens_used=tokens, model=resp.model or self.model
        )


def _parse(text: str, schema: type[BaseModel]) -> BaseModel:
    """Validate a JSON reply; models often wrap JSON in a markdown fence."""
    try:
        return schema.model_validate(json.loads(_FENCE.sub("", text)))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise LLMError(
            f"The language model's reply did not match {schema.__name__}: {exc}"
        ) from exc
