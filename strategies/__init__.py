"""Server side: the Flower ServerApp, the experiment flow and the server half of each method."""
