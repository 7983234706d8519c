"""Server side, installed as ``fedunlearn.strategies``: the Flower ServerApp, the experiment flow and the server half
of each method (``methods/``). May import every layer of the library, not ``fedunlearn.clients`` nor the public face."""
