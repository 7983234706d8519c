"""A fedunlearn model (``mlp-32``) and data set (``blobs``) that live in their own package."""
