"""Strawberry only: types, inputs, the request context and the Schema with its extensions."""
