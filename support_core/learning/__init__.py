"""The learning loop: human resolutions feed the knowledge base and retrieval, and rule
changes are replayed over past tickets before they ship.

* :mod:`.records` / :mod:`.store`  - the typed resolution record and this package's tables
* :mod:`.resolutions`  - capture a resolution when an agent resolves a handoff
* :mod:`.gaps`         - group what the AI could not answer; publish a group as an article
* :mod:`.feedback`     - human-verified (question, article) pairs that nudge retrieval
* :mod:`.regression`   - re-run the pipeline, side-effect free, over resolved questions
* :mod:`.replay`       - re-decide past tickets under proposed router thresholds
* :mod:`.metrics`      - first-human-reply times, CSAT by reason/signal, draft use
"""
