"""The central evaluator and its parts: accuracies, membership attacks, similarity to the reference, statistics over
seeds. May import every layer below it: config and errors, runtime, learning, data, algorithms.
"""
