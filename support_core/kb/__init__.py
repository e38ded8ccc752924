"""The knowledge base: loading files, structure-aware chunking, hybrid search."""

from support_core.kb.chunking import chunk_article
from support_core.kb.knowledge_base import KnowledgeBase
from support_core.kb.loaders import load_bytes, load_file

__all__ = ["KnowledgeBase", "chunk_article", "load_bytes", "load_file"]
