"""pytest plugin: fixtures for testing Realtime receivers and clients against recordings."""
