"""The data side: data sets (a registry: built-ins by decorator, plugins by the entry point group
``fedunlearn.datasets``), their partition over clients, deletion requests, the planted backdoor and the array cache.
May import fedunlearn.config, fedunlearn.errors, fedunlearn.runtime and fedunlearn.learning.
"""
