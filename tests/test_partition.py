import numpy as np
import pytest

from fedunlearn.config import ConfigError, validate
from fedunlearn.data.federation import Federation
from fedunlearn.data.partition import partition_indices
from fedunlearn.data.requests import DeletionRequest

# 60 samples: classes 0..3 with 24, 12, 12, 12 samples.
LABELS = np.array([0] * 24 + [1] * 12 + [2] * 12 + [3] * 12)


def _assert_exact_cover(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n and len(np.unique(allidx)) == n  # every sample once, none twice


@pytest.mark.parametrize("partitioner", ["iid", "dirichlet", "pathological"])
def test_every_sample_is_assigned_exactly_once(partitioner):
    config = validate({"num-clients": 4, "partitioner": partitioner, "classes-per-client": 2, "dirichlet-alpha": 0.5})
    parts = partition_indices(LABELS, config)
    assert len(parts) == 4
    _assert_exact_cover(parts, len(LABELS))


def test_iid_partition_is_balanced_and_seeded():
    parts = partition_indices(LABELS, validate({"num-clients": 4, "partitioner": "iid", "seed": 1}))
    assert [len(p) for p in parts] == [15, 15, 15, 15]
    again = partition_indices(LABELS, validate({"num-clients": 4, "partitioner": "iid", "seed": 1}))
    other = partition_indices(LABELS, validate({"num-clients": 4, "partitioner": "iid", "seed": 2}))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other))


def test_pathological_clients_hold_at_most_k_classes():
    parts = partition_indices(LABELS, validate({"num-clients": 4, "partitioner": "pathological", "classes-per-client": 2}))
    for part in parts:
        assert len(set(LABELS[part])) <= 2


def test_forget_retain_split_is_exact():
    request = DeletionRequest(kind="class", forget_class=2)
    held = np.array([0, 1, 30, 36, 37, 50])  # labels 0, 0, 1, 2, 2, 3
    mask = request.forget_mask(held, LABELS[held], client_id=0)
    assert list(mask) == [False, False, False, True, True, False]


def test_client_and_sample_requests_pick_exactly_the_target_clients_samples():
    config = validate({"num-clients": 4, "partitioner": "iid", "forget-client": 2})
    fed = Federation.from_config(config)
    assert fed.request.kind == "client"
    assert np.array_equal(fed.client_indices(2, "forget"), fed.partitions[2])
    assert len(fed.client_indices(2, "retain")) == 0 and len(fed.client_indices(1, "forget")) == 0
    assert np.array_equal(fed.union_indices("forget"), fed.partitions[2])
    samples = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid", "forget-samples": 0.25,
                                               "forget-samples-client": 1}))
    held = samples.partitions[1]
    forget = samples.client_indices(1, "forget")
    assert samples.request.kind == "sample" and len(forget) == round(0.25 * len(held))
    assert set(forget) <= set(held)
    assert np.array_equal(np.sort(np.concatenate([forget, samples.client_indices(1, "retain")])), held)
    assert all(len(samples.client_indices(c, "forget")) == 0 for c in (0, 2, 3))
    again = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid", "forget-samples": 0.25,
                                             "forget-samples-client": 1}))
    assert np.array_equal(again.client_indices(1, "forget"), forget)  # seeded


def test_federation_views_partition_each_client_and_the_union():
    fed = Federation.from_config(validate({"num-clients": 5, "forget-class": 3}))
    y = fed.data.y_train
    for c in range(fed.num_clients):
        held, forget, retain = (fed.client_indices(c, v) for v in ("all", "forget", "retain"))
        assert np.array_equal(np.sort(np.concatenate([forget, retain])), held)
        assert np.all(y[forget] == 3) and np.all(y[retain] != 3)
    assert len(fed.union_indices("forget")) == int(np.sum(y == 3))
    assert len(fed.union_indices("retain")) == int(np.sum(y != 3))


def test_sequential_request_whole_and_step_by_step():
    config = validate({"num-clients": 5, "forget-class": 3, "then-forget-classes": "5,1"})
    y = Federation.from_config(config).data.y_train
    whole = Federation.from_config(config)
    assert whole.request.kind == "sequential" and whole.request.classes == (3, 5, 1)
    assert whole.request.to_dict() == {"kind": "sequential", "forget_classes": [3, 5, 1]}
    # Taken whole (original, reference, evaluator): every class of the sequence is forgotten, nothing is gone.
    assert np.array_equal(whole.union_indices("all"), np.arange(len(y)))
    assert np.array_equal(whole.union_indices("forget"), np.flatnonzero(np.isin(y, [3, 5, 1])))
    # Step 2 forgets class 5 from a federation that no longer holds class 3.
    step = Federation.from_config({**config, "request-step": 2})
    assert step.request.kind == "class" and step.request.forget_class == 5 and step.request.earlier_classes == (3,)
    assert step.request.to_dict() == {"kind": "class", "forget_class": 5, "earlier_classes": [3]}
    assert np.array_equal(step.union_indices("all"), np.flatnonzero(y != 3))
    assert np.array_equal(step.union_indices("forget"), np.flatnonzero(y == 5))
    assert np.array_equal(step.union_indices("retain"), np.flatnonzero(~np.isin(y, [3, 5])))
    for c in range(step.num_clients):  # each client's views are its own samples, split exactly
        held, forget, retain = (step.client_indices(c, v) for v in ("all", "forget", "retain"))
        assert set(held) <= set(whole.partitions[c])
        assert np.array_equal(np.sort(np.concatenate([forget, retain])), held)
    last = Federation.from_config({**config, "request-step": 3})
    assert last.request.earlier_classes == (3, 5)
    assert np.array_equal(last.union_indices("retain"), whole.union_indices("retain"))  # the reference's data
    first = Federation.from_config({**config, "request-step": 1})
    assert first.request.earlier_classes == () and np.array_equal(first.union_indices("forget"), np.flatnonzero(y == 3))
    with pytest.raises(ValueError, match="request-step = 4"):
        Federation.from_config({**config, "request-step": 4})


@pytest.mark.parametrize("values, message", [
    ({"then-forget-classes": "3"}, "must not repeat forget-class"),
    ({"then-forget-classes": "5,5"}, "distinct class labels"),
    ({"then-forget-classes": "five"}, "distinct class labels"),
    ({"then-forget-classes": "5", "forget-client": 1, "forget-class": -1}, "sequential requests are class requests"),
])
def test_sequential_request_errors(values, message):
    with pytest.raises(ConfigError, match=message) as err:
        validate({"forget-class": 3, **values})
    assert "then-forget-classes" in str(err.value)


def test_impossible_split_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot split"):
        partition_indices(LABELS[:8], validate({"num-clients": 8, "partitioner": "dirichlet", "dirichlet-alpha": 0.01}))


def test_backdoor_is_planted_in_the_named_client_only():
    plain = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid"}))
    fed = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid", "backdoor-client": 2,
                                           "backdoor-fraction": 0.25, "backdoor-target": 7}))
    held = fed.partitions[2]
    assert len(fed.poisoned) == round(0.25 * len(held)) and set(fed.poisoned) <= set(held)
    assert np.all(fed.data.y_train[fed.poisoned] == 7)
    assert np.all(fed.data.x_train[fed.poisoned][:, :, -2:, -2:] == 1.0)  # the 2x2 trigger on 8x8 digits
    clean = np.setdiff1d(np.arange(len(fed.data.y_train)), fed.poisoned)
    assert np.array_equal(fed.data.x_train[clean], plain.data.x_train[clean])
    assert np.array_equal(fed.data.y_train[clean], plain.data.y_train[clean])
    assert len(plain.poisoned) == 0


def test_a_file_of_sample_indices_forgets_exactly_those_samples(tmp_path):
    path = tmp_path / "forget.txt"
    base = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid"}))
    chosen = base.partitions[2][:5].tolist() + base.partitions[0][:2].tolist()
    path.write_text("\n".join(map(str, chosen)))
    fed = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid", "forget-samples-path": str(path)}))
    assert fed.request.kind == "sample" and fed.request.to_dict() == {"kind": "sample", "forget_samples": 7}
    assert np.array_equal(fed.union_indices("forget"), np.sort(chosen))
    assert fed.target_client is None  # spread over clients 0 and 2
    np.save(tmp_path / "one.npy", np.array(base.partitions[3][:4]))
    one = Federation.from_config(validate({"num-clients": 4, "partitioner": "iid",
                                           "forget-samples-path": str(tmp_path / "one.npy")}))
    assert one.target_client == 3 and len(one.client_indices(3, "forget")) == 4
