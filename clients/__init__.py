"""Client side, installed as ``fedunlearn.clients``: the Flower ClientApp and the client half of each method
(``handlers/``). May import every layer of the library, not ``fedunlearn.strategies`` nor the public face."""
