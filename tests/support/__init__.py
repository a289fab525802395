"""Test support shared by several test packages: launchers for real servers on loopback."""
