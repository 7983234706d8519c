"""fedunlearn: a federated unlearning simulator on Flower and Ray."""

__version__ = "0.1.0"
