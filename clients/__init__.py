"""Client side: the Flower ClientApp and the client half of each method."""
