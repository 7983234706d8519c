"""Reports, plots and benchmark pages, built from what the evaluator scored. May import every layer below it, not the
Flower apps (fedunlearn.strategies, fedunlearn.clients) nor the public face.
"""
