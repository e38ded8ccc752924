"""Embeddings from any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio).

Texts go out in batches of ``settings.embedding_batch_size``; vectors come back
L2-normalised float32 like the local embedder's, so the store and the fusion treat both
alike. Any client or HTTP failure becomes :class:`BackendUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from support_core.config import Settings
from support_core.errors import BackendUnavailable


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class OpenAIEmbedder:
    """An :class:`~support_core.ports.Embedder` over ``client.embeddings.create``."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.model = settings.embedding_model
        self.batch_size = settings.embedding_batch_size
        self.name = f"openai:{settings.embedding_base_url or 'api.openai.com'}:{self.model}"
        self._client = client or self._make_client(settings)

    @staticmethod
    def _make_client(settings: Settings) -> Any:
        from openai import OpenAI

        return OpenAI(
            base_url=settings.embedding_base_url,
            api_key=settings.embedding_api_key or "not-needed",
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        return normalise(np.vstack([self._embed_batch(batch) for batch in batches]))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        from openai import OpenAIError

        inputs = [t if t.strip() else " " for t in texts]  # the API rejects empty strings
        try:
            response = self._client.embeddings.create(model=self.model, input=inputs)
        except OpenAIError as err:
            raise BackendUnavailable(f"The embedding service failed ({self.model}): {err}") from err
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(inputs):
            raise BackendUnavailable(
                f"The embedding service returned {len(rows)} vectors for {len(inputs)} texts."
            )
        return np.asarray([row.embedding for row in rows], dtype=np.float32)
