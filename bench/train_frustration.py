"""Train the learned frustration model and write its weights into the package.

    .venv/bin/python bench/train_frustration.py            # train, write weights + card
    .venv/bin/python bench/train_frustration.py --dry-run  # train and print, write nothing

Data and splits: see ``bench/frustration_data.py`` (GoEmotions train subsample,
TweetEval val split 70/30 into train/dev, uss_ccpe split by dialogue 60/20/20; every
test split is held out and used only for the figures in the card).

Model: scikit-learn logistic regression on ``[MiniLM vector, tone + signal features]``
(``support_core.frustration_model.signal_features``). Each data set carries the same
total weight in training. The regularisation C is chosen on the dev splits (mean
macro-F1 of GoEmotions and TweetEval dev, plus uss_ccpe dev ROC AUC); the decision
threshold maximises the mean F-beta (beta = ``RECALL_BETA`` = 1.5) of the frustrated class
on GoEmotions and TweetEval dev: a missed angry customer costs more than a needless
empathy line (v1 maximised macro-F1: 0.24 instead of 0.18, angry recall 88.5 %).

Session mood (v2): the session's logit is ``message logit + w . context``
(``support_core.sentiment_model.context_features``). ``w`` is fitted on the uss_ccpe train
dialogues by L2-penalised logistic loss with the message logit as a fixed offset; the
context is recomputed by replaying each dialogue through the analyser exactly as the
pipeline sees it (``bench.frustration_data.replay``), and since the previous mood is the
model's own output, fitting and replaying alternate (``SESSION_ROUNDS``). The penalty and
the mood's floor decay are chosen on uss_ccpe dev by ROC AUC with the conversation.
Output: ``support_core/models_data/frustration_v2.npz`` and ``frustration_v2.json`` (the
card).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.frustration_data import (  # noqa: E402
    CACHE,
    DEFAULT_DATA,
    GOEMOTIONS_TRAIN,
    SEED,
    Split,
    all_splits,
    ccpe_dialogues,
    embed_cached,
    is_cached,
    replay,
)
from support_core.frustration_model import (  # noqa: E402
    CONTEXT_NAMES,
    FEATURE_NAMES,
    MODEL_NAME,
    FrustrationModel,
    model_path,
    signal_features,
)
from support_core.models import Message, SentimentResult  # noqa: E402
from support_core.sentiment import RuleSentimentAnalyzer  # noqa: E402
from support_core.sentiment_model import ModelSentimentAnalyzer  # noqa: E402

ANCHOR = 0.4  # SentimentThresholds.frustrated_score: the threshold maps onto it
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
# The carried mood's per-turn decay: the session model's "carried_logit" feature compares
# decay x previous mood with this message (a product choice, issue 8, not tuned on data).
MOOD_DECAY = 0.7
SESSION_PENALTIES = (10.0, 30.0, 100.0, 300.0)  # L2 strength on the context weights
# The mood never falls below this x the previous mood. Product requirement (issue 8): a calm
# message after an angry one lowers the mood gradually, never resets it; uss_ccpe dev alone
# prefers no floor (0.0: dev AUC 0.834 vs 0.829 at 0.3 in our run), so the floor is chosen
# on dev among values >= 0.3, and the card records the AUC of each candidate.
FLOOR_DECAYS = (0.3, 0.5)
SESSION_ROUNDS = 3
RECALL_BETA = 1.5
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.02))


def features_cached(split: Split) -> np.ndarray:
    """Tone + signal features of each text (rules are slowish on 60k texts: cached)."""
    digest = hashlib.sha1(("\x00".join(split.texts) + repr(FEATURE_NAMES)).encode()).hexdigest()
    path = CACHE / f"feat-{split.dataset}-{split.split}-{digest[:16]}.npy"
    if path.exists():
        return np.load(path)
    rules = RuleSentimentAnalyzer()
    rows = []
    for text in split.texts:
        ev = rules.evidence(text, [])
        rows.append(signal_features(ev.compound, ev.phrases))
    out = np.vstack(rows).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def vectors(split: Split) -> np.ndarray:
    return embed_cached(split.texts, f"{split.dataset}-{split.split}")


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro", zero_division=0))


def auc(truth: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, score))


def lookup(split: Split) -> Any:
    table = dict(zip(split.texts, vectors(split), strict=True))
    return lambda text: table[text]


def subset(split: Split, keep: np.ndarray) -> Split:
    idx = np.flatnonzero(keep)
    return Split(split.dataset, split.split, [split.texts[i] for i in idx], split.labels[idx],
                 dialog=[split.dialog[i] for i in idx], turn=[split.turn[i] for i in idx])


def session_replay(model: FrustrationModel, split: Split, dialogues: dict[str, Any],
                   embed: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replay ``split`` through the analyser with ``model``; per row (split order): the
    message logit, the context features and the mood the analyser returned."""
    analyzer = ModelSentimentAnalyzer(embed or lookup(split), model=model)
    seen: list[tuple[str, float, np.ndarray]] = []

    def analyze(text: str, conversation: list[Message]) -> SentimentResult:
        result, z, features = analyzer.scored(text, conversation)
        assert features is not None
        seen.append((text, z, features))
        return result

    results = replay(split, dialogues, analyze)
    assert [t for t, _, _ in seen] == split.texts  # replay visits rows in split order
    return (np.array([z for _, z, _ in seen]), np.vstack([f for _, _, f in seen]),
            np.array([r.frustration_score for r in results]))


def fit_offset_logistic(offset: np.ndarray, x: np.ndarray, y: np.ndarray,
                        penalty: float) -> np.ndarray:
    """argmin_w  sum logloss(y, offset + x w) + penalty/2 |w|^2  (no intercept: every
    context feature is 0 on a first message, which then keeps the message model's score)."""
    from scipy.optimize import minimize

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = offset + x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(np.logaddexp(0.0, z) - y * z)) + penalty / 2 * float(w @ w)
        return value, x.T @ (p - y) + penalty * w

    start = np.zeros(x.shape[1])
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B").x, dtype=np.float32)


def train_session(model: FrustrationModel, splits: dict[str, dict[str, Split]],
                  dialogues: dict[str, Any], fold_models: list[tuple[np.ndarray, FrustrationModel]]
                  ) -> tuple[FrustrationModel, dict[str, Any]]:
    """Fit the context weights on uss_ccpe train; choose penalty and floor decay on dev.

    ``fold_models``: (rows of uss_ccpe train, message model trained without them). The
    context weights are fitted on out-of-fold message logits: the shipped message model saw
    uss_ccpe train, and its in-sample logits are too good to show what context adds."""
    from dataclasses import replace

    train, dev = splits["uss_ccpe"]["train"], splits["uss_ccpe"]["dev"]
    table = lookup(train)
    parts = [(subset(train, rows), m) for rows, m in fold_models]
    y = np.concatenate([p.labels for p, _ in parts]).astype(float)
    zero = replace(model, session_coef=np.zeros(len(CONTEXT_NAMES), np.float32))
    _, _, dev_message_only = session_replay(zero, dev, dialogues)
    dev_auc: dict[str, float] = {}
    best: tuple[float, FrustrationModel, str] | None = None
    for penalty in SESSION_PENALTIES:
        current = zero
        for _ in range(SESSION_ROUNDS):  # the previous mood is the model's own output
            runs = [session_replay(replace(m, session_coef=current.session_coef), part,
                                   dialogues, table) for part, m in parts]
            offset, x = np.concatenate([r[0] for r in runs]), np.vstack([r[1] for r in runs])
            current = replace(current, session_coef=fit_offset_logistic(offset, x, y, penalty))
        for floor_decay in FLOOR_DECAYS:
            candidate = replace(current, mood_floor_decay=floor_decay)
            _, _, mood = session_replay(candidate, dev, dialogues)
            key = f"penalty={penalty}, floor_decay={floor_decay}"
            dev_auc[key] = auc(dev.labels, mood)
            print(f"session {key}: uss_ccpe dev AUC {dev_auc[key]:.4f} "
                  f"w={np.round(np.asarray(candidate.session_coef), 2).tolist()}", file=sys.stderr)
            if best is None or dev_auc[key] > best[0]:
                best = (dev_auc[key], candidate, key)
    assert best is not None
    chosen = best[1]
    assert chosen.session_coef is not None
    return chosen, {
        "chosen": best[2],
        "weights": dict(zip(CONTEXT_NAMES,
                            np.round(chosen.session_coef.astype(float), 4).tolist(),
                            strict=True)),
        "dev_ccpe_auc_message_only": round(auc(dev.labels, dev_message_only), 4),
        "dev_ccpe_auc_with_conversation": round(best[0], 4),
        "dev_ccpe_auc_by_setting": {k: round(v, 4) for k, v in dev_auc.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--dry-run", action="store_true", help="print, write nothing")
    p.add_argument("--cached-only", action="store_true",
                   help="train on the splits whose embeddings are already cached")
    args = p.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    splits = all_splits(Path(args.data))
    X: dict[tuple[str, str], np.ndarray] = {}
    for name, parts in splits.items():
        for split in parts.values():
            if args.cached_only and not is_cached(split.texts, f"{name}-{split.split}"):
                continue
            X[(name, split.split)] = np.hstack([vectors(split), features_cached(split)])
    train_names = [n for n in splits if (n, "train") in X and (n, "dev") in X]
    print(f"training on {train_names}", file=sys.stderr)
    Xtr = np.vstack([X[(n, "train")] for n in train_names])
    ytr = np.concatenate([splits[n]["train"].labels for n in train_names]).astype(int)
    weight = np.concatenate([np.full(len(splits[n]["train"].labels),
                                     len(ytr) / (len(train_names) * len(splits[n]["train"].labels)))
                             for n in train_names])
    dim = X[(train_names[0], "train")].shape[1] - len(FEATURE_NAMES)
    feats = Xtr[:, dim:]
    mean, scale = feats.mean(axis=0), feats.std(axis=0)
    # Only the three tone columns are standardised: a rare 0/1 signal flag divided by its tiny
    # standard deviation would become a huge input and let one flag decide the message.
    mean[3:], scale[3:] = 0.0, 1.0
    scale[scale == 0] = 1.0

    def standardise(x: np.ndarray) -> np.ndarray:
        return np.hstack([x[:, :dim], (x[:, dim:] - mean) / scale])

    tone_sets = [n for n in ("GoEmotions", "TweetEval") if n in train_names]
    has_ccpe = "uss_ccpe" in train_names
    best: dict[str, Any] | None = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=3000)
        clf.fit(standardise(Xtr), ytr, sample_weight=weight)
        dev = {n: clf.predict_proba(standardise(X[(n, "dev")]))[:, 1] for n in train_names}
        by_t = {t: np.mean([macro_f1(splits[n]["dev"].labels, dev[n] >= t) for n in tone_sets])
                for t in THRESHOLDS}
        t_best = max(by_t, key=lambda t: by_t[t])
        ccpe_auc = auc(splits["uss_ccpe"]["dev"].labels, dev["uss_ccpe"]) if has_ccpe else 0.0
        objective = (2 * by_t[t_best] + ccpe_auc) / 3 if has_ccpe else by_t[t_best]
        print(f"C={c:<5} dev macro-F1 {by_t[t_best]:.3f} at t={t_best:.2f}, "
              f"uss_ccpe dev AUC {ccpe_auc:.3f}", file=sys.stderr)
        if best is None or objective > best["objective"]:
            best = {"objective": objective, "C": c, "clf": clf, "threshold": t_best, "dev": dev,
                    "dev_macro_f1": by_t[t_best], "dev_ccpe_auc": ccpe_auc}
    assert best is not None
    from sklearn.metrics import fbeta_score

    # The operating point: F-beta (beta = RECALL_BETA) of the frustrated class on the dev
    # splits, since a missed angry customer costs more than a needless empathy line.
    by_fbeta = {t: float(np.mean([fbeta_score(splits[n]["dev"].labels, best["dev"][n] >= t,
                                              beta=RECALL_BETA) for n in tone_sets]))
                for t in THRESHOLDS}
    threshold = max(by_fbeta, key=lambda t: by_fbeta[t])
    print(f"threshold {threshold} (dev F{RECALL_BETA} {by_fbeta[threshold]:.3f}; macro-F1 "
          f"would pick {best['threshold']})", file=sys.stderr)

    def fitted(clf: Any) -> FrustrationModel:
        return FrustrationModel(
            coef=np.asarray(clf.coef_[0], dtype=np.float32), intercept=float(clf.intercept_[0]),
            feature_mean=mean.astype(np.float32), feature_scale=scale.astype(np.float32),
            threshold=float(threshold), anchor=ANCHOR, mood_decay=MOOD_DECAY,
            embedding_dim=dim)

    model = fitted(best["clf"])
    session: dict[str, Any] = {}
    dialogues = ccpe_dialogues(Path(args.data)) if has_ccpe else {}
    if has_ccpe:
        ccpe_train = splits["uss_ccpe"]["train"]
        fold_of = {d: i % 2 for i, d in enumerate(sorted(set(ccpe_train.dialog)))}
        fold = np.array([fold_of[d] for d in ccpe_train.dialog])
        assert train_names[-1] == "uss_ccpe"
        start = len(ytr) - len(fold)  # uss_ccpe train rows are the last block of Xtr
        fold_models = []
        for k in (0, 1):
            keep = np.ones(len(ytr), bool)
            keep[start:][fold == k] = False
            clf = LogisticRegression(C=best["C"], max_iter=3000)
            clf.fit(standardise(Xtr[keep]), ytr[keep], sample_weight=weight[keep])
            fold_models.append((fold == k, fitted(clf)))
        model, session = train_session(model, splits, dialogues, fold_models)
    test: dict[str, Any] = {}
    for n in [n for n in splits if (n, "test") in X]:
        split = splits[n]["test"]
        prob = model.probabilities(X[(n, "test")][:, :dim], X[(n, "test")][:, dim:])
        test[n] = {"rows": len(split.labels), "positives": int(split.labels.sum()),
                   "macro_f1": round(macro_f1(split.labels, prob >= model.threshold), 4),
                   "roc_auc": round(auc(split.labels, prob), 4)}
        if n == "uss_ccpe" and has_ccpe:
            _, _, mood = session_replay(model, split, dialogues)
            test[n]["roc_auc_with_conversation"] = round(auc(split.labels, mood), 4)
    card = {
        "name": MODEL_NAME,
        "trained_by": "bench/train_frustration.py",
        "model": "scikit-learn LogisticRegression (L2) on the message, plus a logistic session "
                 "model (message logit as offset + context weights); at run time one dot "
                 f"product + sigmoid for the message, one {len(CONTEXT_NAMES)}-term dot "
                 "product for the session",
        "inputs": {"embedding": "all-MiniLM-L6-v2, L2-normalised", "embedding_dim": dim,
                   "features": list(FEATURE_NAMES), "context": list(CONTEXT_NAMES)},
        "data": {
            "GoEmotions": f"../shared/data/goemotions: positive = anger|annoyance|disappointment; "
                          f"train = {GOEMOTIONS_TRAIN} rows sampled from train.jsonl "
                          f"(seed {SEED}), "
                          "dev = dev.jsonl, test = test.jsonl",
            "TweetEval": "../shared/data/tweeteval_sentiment: positive = negative; val.jsonl split "
                         f"70/30 into train/dev (seed {SEED}), test = test.jsonl (held out)",
            "uss_ccpe": "../shared/data/uss_ccpe/ccpe_user_turns.jsonl: positive = dissatisfied "
                        f"(rating <= 2); dialogues split 60/20/20 train/dev/test (seed {SEED}); "
                        "the session model replays ccpe_dialogues.jsonl (system turns as "
                        "the replies the user reacts to)",
        },
        "sizes": {n: {k: len(v.labels) for k, v in parts.items() if (n, k) in X}
                  for n, parts in splits.items()},
        "trained_on": train_names,
        "chosen_on_dev": {"C": best["C"], "threshold": model.threshold, "anchor": ANCHOR,
                          "threshold_objective": f"F{RECALL_BETA} of the frustrated class, "
                                                 "mean of GoEmotions and TweetEval dev",
                          "threshold_by_macro_f1": best["threshold"],
                          "mood_decay": MOOD_DECAY,
                          "mood_floor_decay": model.mood_floor_decay,
                          "dev_macro_f1_mean": round(best["dev_macro_f1"], 4),
                          "dev_ccpe_auc": round(best["dev_ccpe_auc"], 4),
                          "session": session},
        "test": test,
    }
    print(json.dumps(card["chosen_on_dev"], indent=1), json.dumps(test, indent=1))
    if not args.dry_run:
        path = model_path()
        model.save(path, card)
        print(f"Wrote {path} ({path.stat().st_size:,} bytes) and its card "
              f"in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
