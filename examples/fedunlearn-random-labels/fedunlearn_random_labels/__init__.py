"""Random Labels as a fedunlearn plugin: forgotten samples trained toward uniformly random wrong labels."""
