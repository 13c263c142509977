"""varsky: from raw light curves to a classified catalogue of variable stars."""

__version__ = "0.1.0"
