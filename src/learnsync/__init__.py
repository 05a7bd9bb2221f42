"""learnsync: synchronize Coursera for Business content and statistics into 360Learning."""

__version__ = "0.1.0"
