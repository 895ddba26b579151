"""servicecoach: daily customer-service micro-lessons for front-line staff."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("servicecoach")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
