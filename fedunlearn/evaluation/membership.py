"""Privacy leakage: membership inference against a model's outputs.

- :func:`salun_mia_efficacy` is SalUn's MIA-efficacy (Fan et al., ICLR 2024; Jia et al., arXiv
  2304.04934) as its code computes it: one SVM per output feature, the share of forgotten samples called
  **non-members**. The field reports its ``confidence`` value.
- :func:`population_mia` is this project's joint attack (three features behind a scaler): its ROC AUC
  on held-out samples (``mia_auc``) says whether the model's outputs carry membership signal at all, and
  its share of forgotten samples called **members** is ``mia_joint_members``.
- :func:`nearest_neighbour_mia` (`neighbour_mia`) is the project's own neighbour-class attack, after the idea of
  the TRW/TREW paper's MIA-NN/CMIA (arXiv 2506.20893), whose protocol could not be read here: not the paper's attack.

All are pure functions of probabilities and labels; ``docs/evaluator.md`` gives the definitions and why.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

EPS = 1e-12
MAX_PER_SIDE = 2000  # joint attack: training samples per side, enough for 3 features, fast at any data size
SALUN_FEATURES = ("correctness", "confidence", "entropy", "m_entropy", "prob")
SALUN_HEADLINE = "confidence"  # the value SalUn's README says its papers report as MIA


def salun_features(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The five per-sample features of SalUn's ``SVC_MIA`` (``Classification/evaluation/SVC_MIA.py``), as
    its code computes them, each as a (N, d) array.

    - ``correctness``: 1 where the arg-max class is the label, else 0;
    - ``confidence``: the probability of the label, p_y;
    - ``entropy``: -sum_i p_i log p_i (terms with p_i = 0 left out);
    - ``m_entropy``: SalUn's helper, **not** Song & Mittal's modified entropy. For every class that is the
      label of *any* sample of the set, the whole column takes 1 - p_i in place of p_i, and every term is
      weighted by log p_i (log 1e-30 where p_i = 0) where Song & Mittal use log(1 - p_i) off the label. So the
      feature of one sample depends on which labels the rest of its set holds: on the forgotten set of a
      class request only the forgotten class's column is flipped, on the retained and test sets every
      retained class's column. We reproduce it as published, since it is SalUn's number;
    - ``prob``: the whole probability vector.
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    log_p = np.log(np.where(probs > 0, probs, 1e-30))
    flipped = probs.copy()
    columns = np.unique(labels)
    flipped[:, columns] = 1 - probs[:, columns]
    return {
        "correctness": (probs.argmax(axis=1) == labels).astype(np.float64)[:, None],
        "confidence": probs[rows, labels][:, None],
        "entropy": -np.sum(np.where(probs > 0, probs * log_p, 0.0), axis=1)[:, None],
        "m_entropy": -np.sum(flipped * log_p, axis=1)[:, None],
        "prob": probs,
    }


def svc_share_called_members(members: np.ndarray, nonmembers: np.ndarray, targets: np.ndarray) -> float | None:
    """Fit SalUn's attack, ``SVC(C=3, gamma="auto", kernel="rbf")`` on raw features, members labelled 1 and
    non-members 0, and return the share of ``targets`` it predicts as members (None without targets).

    Identical rows are merged before fitting into one row weighted by its count (scikit-learn scales C per
    sample): the same optimisation problem as fitting every copy, so the same decision function up to the
    solver's tolerance, much faster on saturated outputs (a 0/1 feature has four distinct rows). Targets are
    predicted once per distinct row. ``tests/test_metrics.py`` and ``experiments/bench_evaluator.py`` check
    the result against a plain fit on every row.
    """
    if len(targets) == 0:
        return None
    x = np.concatenate([members, nonmembers]).astype(np.float64)
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    rows, counts = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)
    attack = SVC(C=3, gamma=1.0 / x.shape[1], kernel="rbf")  # gamma "auto" = 1 / n_features
    attack.fit(rows[:, :-1], rows[:, -1], sample_weight=counts.astype(np.float64))
    distinct, inverse = np.unique(np.asarray(targets, dtype=np.float64), axis=0, return_inverse=True)
    return float(np.mean(attack.predict(distinct)[inverse.ravel()]))


def salun_mia_efficacy(
    members: tuple[np.ndarray, np.ndarray], nonmembers: tuple[np.ndarray, np.ndarray],
    forget: tuple[np.ndarray, np.ndarray], workers: int = 2,
) -> dict[str, float | None]:
    """SalUn's MIA-efficacy per feature: ``1 - mean(predict(forget))``, the share of forgotten samples that an
    SVM fitted to tell ``members`` (label 1) from ``nonmembers`` (label 0) calls non-members.

    Each argument is (probabilities, labels). SalUn's protocol (``main_forget.py``): members are the first n
    retained training samples in data-set order, n the number of non-members; non-members are every test
    sample of the retained population (class requests: the test set without the forgotten classes). The
    target is the reference model's value: a retrained model's forgotten samples look like unseen ones.
    The five fits run on ``workers`` threads (libsvm releases the GIL).
    """
    sides = [salun_features(*members), salun_features(*nonmembers), salun_features(*forget)]

    def efficacy(feature: str) -> float | None:
        share = svc_share_called_members(*(side[feature] for side in sides))
        return None if share is None else 1.0 - share

    if len(members[1]) == 0 or len(nonmembers[1]) == 0:
        return dict.fromkeys(SALUN_FEATURES)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(SALUN_FEATURES, pool.map(efficacy, SALUN_FEATURES)))


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
    """This project's joint attack: an SVM on three output features at once (behind a scaler) tells members
    from non-members; applied to ``targets``.

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
        ``mia_joint_members``: share of ``targets`` the attack calls **members** (not SalUn's number, which
        counts non-members with one SVM per feature: :func:`salun_mia_efficacy`);
        ``mia_auc``: the attack's ROC AUC on a held-out half of the balanced member/non-member data
        (0.5 = the attack learns nothing on this model).
    """
    if len(members) < 4 or len(nonmembers) < 4:
        return {"mia_joint_members": None, "mia_auc": None}
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
    members_share = float(np.mean(attack.predict(clipped) == 1)) if len(targets) else None
    return {"mia_joint_members": members_share, "mia_auc": auc}


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
