"""fedunlearn: a federated unlearning simulator on Flower and Ray.

From Python (see :mod:`fedunlearn.api`)::

    import fedunlearn
    report = fedunlearn.run("experiments/default.toml", {"seed": 1})
"""

__version__ = "0.1.0"

from fedunlearn.api import experiment, load_report, run, run_suite  # noqa: E402
from fedunlearn.errors import ConfigError, FedunlearnError, Interrupted, RunFailed  # noqa: E402

__all__ = ["run", "run_suite", "load_report", "experiment", "FedunlearnError", "ConfigError", "RunFailed",
           "Interrupted", "__version__"]
