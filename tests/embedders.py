"""The real local model, wrapped to count what reaches it (shared by the KB tests)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from support_core.adapters.embeddings_local import LocalEmbedder


class CountingEmbedder:
    """The real model, counting the document texts that reach it."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)
