"""A tiny helper that exists only as a source distribution."""

__version__ = "1.0"


def banner(name: str) -> str:
    """A greeting naming this package and its version."""
    return f"djangoapp-sdistonly {__version__} says hello to {name}"
