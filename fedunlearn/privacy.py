"""Privacy leakage: membership inference against a model's outputs.

``mia`` is the population attack used by SalUn and Jia et al. (arXiv 2304.04934); ``mia_nn`` is our
working definition of the nearest-neighbour attack of the TRW paper (arXiv 2506.20893). Both are
pure functions of probabilities and labels; see ``docs/evaluator.md`` for the definitions and why.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

EPS = 1e-12
MAX_PER_SIDE = 2000  # attack training samples per side: enough for 3 features, fast at any data size


def output_features(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per sample: confidence on the true label, entropy, and modified entropy (Song & Mittal, 2021).

    Modified entropy = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i): low when the model is
    confident and right, high when it is confident and wrong.
    """
    probs = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    rows = np.arange(len(labels))
    p_true = probs[rows, labels]
    entropy = -np.sum(probs * np.log(probs), axis=1)
    wrong = probs * np.log(1 - probs)
    wrong[rows, labels] = 0.0
    modified = -(1 - p_true) * np.log(p_true) - np.sum(wrong, axis=1)
    return np.stack([p_true, entropy, modified], axis=1)


def _balanced(rng: np.random.Generator, n_members: int, n_nonmembers: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(n_members, n_nonmembers, MAX_PER_SIDE)
    return rng.choice(n_members, n, replace=False), rng.choice(n_nonmembers, n, replace=False)


def population_mia(
    members: np.ndarray, nonmembers: np.ndarray, targets: np.ndarray, seed: int
) -> dict[str, float | None]:
    """Train an SVM to tell members from non-members by their output features; apply it to ``targets``.

    Parameters
    ----------
    members, nonmembers, targets
        Output feature rows (see :func:`output_features`) of retained training samples, of test
        samples, and of the forgotten training samples.
    seed
        Seeds the balanced subsampling and the held-out split.

    Returns
    -------
    dict
        ``mia``: share of ``targets`` the attack calls members (SalUn's MIA efficacy);
        ``mia_auc``: the attack's ROC AUC on a held-out half of the balanced member/non-member data
        (0.5 = the attack learns nothing on this model).
    """
    if len(members) < 4 or len(nonmembers) < 4:
        return {"mia": None, "mia_auc": None}
    rng = np.random.default_rng(seed)
    m_idx, n_idx = _balanced(rng, len(members), len(nonmembers))
    x = np.concatenate([members[m_idx], nonmembers[n_idx]])
    y = np.concatenate([np.ones(len(m_idx)), np.zeros(len(n_idx))])
    order = rng.permutation(len(y))
    train, held = order[: len(order) // 2], order[len(order) // 2:]
    attack = make_pipeline(StandardScaler(), SVC(C=3, gamma="auto", kernel="rbf"))
    auc = None
    if len(set(y[train])) == 2 and len(set(y[held])) == 2:
        attack.fit(x[train], y[train])
        auc = float(roc_auc_score(y[held], attack.decision_function(x[held])))
    attack.fit(x, y)  # the attack applied to the forgotten data uses all balanced samples
    # Far outside the data it was trained on, an RBF SVM answers with its intercept alone. Outputs
    # beyond the seen range (a retrained model's near-zero confidence on a class it never saw) are
    # judged as the nearest seen value instead.
    clipped = np.clip(targets, x.min(axis=0), x.max(axis=0))
    mia = float(np.mean(attack.predict(clipped) == 1)) if len(targets) else None
    return {"mia": mia, "mia_auc": auc}


def neighbour_classes(x_train: np.ndarray, y_train: np.ndarray, forget_classes: Sequence[int] | int,
                      k: int = 3) -> list[int]:
    """The ``k`` retained classes whose mean training input is most cosine-similar to each forgotten
    class's (several forgotten classes: the union of their neighbours, sorted).

    Fixed by the data, not by any model, so every model is attacked on the same classes.
    """
    forgotten = [forget_classes] if isinstance(forget_classes, (int, np.integer)) else list(forget_classes)
    flat = x_train.reshape(len(x_train), -1).astype(np.float64)
    classes = [int(c) for c in np.unique(y_train) if c not in forgotten]
    means = {int(c): flat[y_train == c].mean(0) for c in np.unique(y_train)}
    nearest = []
    for forget_class in forgotten:
        target = means[forget_class] / (np.linalg.norm(means[forget_class]) + EPS)
        sims = {c: float(means[c] @ target / (np.linalg.norm(means[c]) + EPS)) for c in classes}
        nearest.append(sorted(classes, key=lambda c: (-sims[c], c))[:k])
    return nearest[0] if len(nearest) == 1 else sorted(set().union(*nearest))


def nearest_neighbour_mia(
    probs_train: np.ndarray, probs_test: np.ndarray, neighbours: list[int], seed: int, folds: int = 5
) -> float | None:
    """How well the probabilities on the neighbour classes tell forgotten-class *training* samples from
    forgotten-class *test* samples (cross-validated ROC AUC of a logistic regression; 0.5 = not at all).

    A model retrained without the class has seen neither group, so its score is near 0.5 (its
    exact value, with this sample size, is the target). A model that still carries traces of the
    training samples spreads them over the neighbour classes differently from unseen samples.
    """
    n_test = len(probs_test)
    if n_test < folds or len(probs_train) < folds:
        return None
    def feats(p):
        return np.log(np.clip(p[:, neighbours], EPS, 1.0))
    x = np.concatenate([feats(probs_train), feats(probs_test)])
    y = np.concatenate([np.ones(len(probs_train)), np.zeros(n_test)])
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
    scores = cross_val_predict(model, x, y, cv=cv, method="decision_function")
    return float(roc_auc_score(y, scores))
