"""m365apk: a yearly, evidence-based technical checkup of a school's Microsoft 365 tenant."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("m365apk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
