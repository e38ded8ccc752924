"""The knowledge base against a real Chroma *server* (``SUPPORT_CHROMA_URL``).

``chroma run`` ships with the chromadb package, so the test starts one on a free
loopback port and drives it through ``HttpClient`` exactly as a team that
outgrew one machine would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from support_core.errors import BackendUnavailable
from support_core.models import IngestStatus
from support_core.wiring import build_knowledge_base
from tests.browser_helpers import chroma_server, free_port
from tests.conftest import SAMPLE_KB, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


def test_ingest_search_and_replace_through_a_chroma_server(tmp_path, chroma_url) -> None:
    articles = tmp_path / "kb"
    articles.mkdir()
    for name in ("billing-refund-policy.md", "api-rate-limits.md"):
        shutil.copy(SAMPLE_KB / name, articles / name)
    kb = build_knowledge_base(make_settings(tmp_path / "data", chroma_url=chroma_url))
    results = kb.ingest_paths([articles])
    assert [r.status for r in results] == [IngestStatus.ADDED, IngestStatus.ADDED]
    assert not (tmp_path / "data" / "chroma").exists()  # vectors live on the server

    hits = kb.search("how many API requests per minute on the Team plan", k=3)
    assert hits[0].title.startswith("API rate limits") and hits[0].dense_score is not None

    shrunk = articles / "api-rate-limits.md"
    shrunk.write_text(shrunk.read_text().split("\n## ")[0] + "\n")
    assert kb.ingest_paths([shrunk])[0].status == IngestStatus.UPDATED
    registry = {a.article_id: a.chunks for a in kb.list_articles()}
    assert len(kb.get_chunks(hits[0].article_id)) == registry[hits[0].article_id] == 1
    assert kb.store.count() == sum(registry.values())  # no stale chunk left on the server


def test_an_unreachable_chroma_server_is_a_clear_error(tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailable) as err:
        kb = build_knowledge_base(make_settings(tmp_path, chroma_url=url))
        kb.search("anything")
    assert "127.0.0.1" in err.value.user_message
