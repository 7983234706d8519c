"""Property-based: whatever keys and values a configuration holds, validation either accepts it or raises
the one-line ConfigError; it never raises anything else and never writes a file. (Validation only: no
configuration here reaches Ray.)"""

import math

from fedunlearn.strategies.validation import check_experiment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedunlearn.config import SCHEMA, ConfigError

VALUES = st.one_of(
    st.integers(min_value=-5, max_value=5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["", "digits", "synthetic", "npz", "mnist", "iid", "dirichlet", "pathological", "mlp", "cnn",
                     "finetune", "fucrt", "not", "federaser", "fucrt[fucrt-lambda-local=0]", "x[", "1,8,8",
                     "0,0,1", "../../etc", "first", "vote"]),
    st.text(max_size=12),
)
KEYS = st.sampled_from([*SCHEMA, "unknown-key", "Seed"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_configuration_is_accepted_or_refused_in_one_line(tmp_path, monkeypatch, values):
    monkeypatch.chdir(tmp_path)
    try:
        config = check_experiment(values)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message
    else:
        assert set(config) == set(SCHEMA)
        assert all(not isinstance(v, float) or math.isfinite(v) for v in config.values())
    assert list(tmp_path.iterdir()) == []
