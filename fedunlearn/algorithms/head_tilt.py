"""Head tilt, as pure functions: the project's own construction after the idea of TRW/TREW
(Ebrahimpour-Boroojeny et al., arXiv 2506.20893), whose similarity estimate could not be read here.

For an input of the forgotten class f the target distribution is q(f) = 0 and, for retained k,
q(k) proportional to p(k|x) * exp(beta * s(f, k)): the model's own belief, tilted toward the classes most
similar to f, with s the cosine between the classifier head's rows (the paper's s, by its reviewers'
account, is a cosine in a PCA-projected logit space under a sharp softmax: not this one).
"""

from __future__ import annotations

import numpy as np


def class_similarity(head_weight: np.ndarray, forget_class: int) -> np.ndarray:
    """s(f, k): cosine similarity between the classifier head's weight vectors of f and of each class k.

    The head's rows are the model's class embeddings, known to every client without data (our choice; see
    docs/methods/head-tilt.md).
    """
    w = np.asarray(head_weight, np.float64)
    unit = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    return unit @ unit[forget_class]


def tilted_target(probs: np.ndarray, forget_class: int, similarity: np.ndarray, beta: float) -> np.ndarray:
    """Rows of q: zero on the forgotten class, p(k|x) * exp(beta * s(f, k)) renormalised elsewhere."""
    probs = np.asarray(probs, np.float64)
    logits = np.log(np.clip(probs, 1e-12, 1.0)) + beta * np.asarray(similarity)[None, :]
    logits[:, forget_class] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    q = np.exp(logits)
    return q / q.sum(axis=1, keepdims=True)
