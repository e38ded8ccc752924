"""The knowledge base: loading files, structure-aware chunking, hybrid search."""

from support_core.kb.chunking import chunk_article
from support_core.kb.knowledge_base import KnowledgeBase, build_knowledge_base
from support_core.kb.loaders import load_bytes, load_file

__all__ = ["KnowledgeBase", "build_knowledge_base", "chunk_article", "load_bytes", "load_file"]
