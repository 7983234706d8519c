"""The unlearning algorithms as pure functions on tensors and parameter dicts, one module per method; no Flower, no
Ray, no files. May import fedunlearn.config, fedunlearn.errors, fedunlearn.runtime and fedunlearn.learning.
"""
