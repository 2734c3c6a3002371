"""Figure modules; importing this package registers them all."""
