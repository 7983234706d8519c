"""The run machinery: checkpoints and the model cache, child-process supervision, progress output, round deadlines,
simulated faults, Ray clusters, real Flower processes, and the cost of a phase. May import only fedunlearn.config and
fedunlearn.errors.
"""
