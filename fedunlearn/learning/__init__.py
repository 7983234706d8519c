"""Models (a registry: built-ins by decorator, plugins by the entry point group ``fedunlearn.models``) and the plain
PyTorch loops that train and run them. May import fedunlearn.config, fedunlearn.errors and fedunlearn.runtime.
"""
