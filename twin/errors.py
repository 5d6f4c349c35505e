"""The one public exception hierarchy of the toolkit.

Every error raised on purpose by ``twin``, the converters, the viewers or the
API derives from :class:`TwinError`, and also from the matching built-in so
that ``except ValueError`` keeps working for callers who do not know us.
Messages name the file, feature or value at fault and, where there is a
choice, the valid options.

The rule: raise a subclass, never ``TwinError`` itself, and pick the built-in
a caller would expect (``ValueError`` for bad values, ``OSError`` for files
that cannot be opened, ``KeyError`` for missing items). Everything else that
escapes the toolkit is a bug in our code: the CLI reports it as an internal
error (exit status 1, traceback with ``--debug``), never as a bad file.

>>> from twin.errors import ConversionError, TwinError
>>> err = ConversionError("pipes.geojson: feature 3 has no geometry", source="pipes.geojson")
>>> isinstance(err, TwinError), isinstance(err, ValueError)
(True, True)
"""

from __future__ import annotations


class TwinError(Exception):
    """Base class of every deliberate error of the toolkit."""


class CRSError(TwinError, ValueError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class LayerError(TwinError, ValueError):
    """A layer name is unknown, or a layer definition is invalid."""


class FeatureError(TwinError, ValueError):
    """A feature is invalid (bad id, geometry, attribute type, ...).

    ``feature_id`` names the offending feature when it is known.
    """

    def __init__(self, message: str, feature_id: str | None = None):
        super().__init__(message)
        self.feature_id = feature_id


class GeometryError(FeatureError):
    """A geometry is invalid: wrong type, bad mesh indices, non-finite values."""


class HierarchyError(FeatureError):
    """A feature's parent chain is broken: a feature is its own ancestor.

    The twin holds such a chain only if a source file declared it; the
    request that walked it was fine.
    """


class QueryError(TwinError, ValueError):
    """A query or filter expression cannot be understood."""


class NotFoundError(TwinError, KeyError):
    """A feature, layer or batch does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return str(self.args[0]) if self.args else ""


class StoreError(TwinError, OSError):
    """The twin file cannot be opened or written."""


class NotATwinError(StoreError):
    """The file exists but is not a twin store (or not even SQLite)."""


class SchemaVersionError(StoreError):
    """The twin was written by a newer, incompatible version of the toolkit."""


class ImportFailedError(TwinError, RuntimeError):
    """An import was rolled back; the twin is unchanged.

    ``source`` names the input file, ``cause`` the underlying error.
    """

    def __init__(self, message: str, source: str | None = None):
        super().__init__(message)
        self.source = source


class ConversionError(TwinError, ValueError):
    """A source file cannot be converted (broken, unsupported, wrong CRS)."""

    def __init__(self, message: str, source: str | None = None):
        super().__init__(message)
        self.source = source


class OptionError(TwinError, ValueError):
    """A function or command was given an option value it does not know; the
    message names the value and the valid ones."""


class ConfigError(TwinError, ValueError):
    """A configuration is missing or invalid: a rules table (clearances), the
    API server's settings. The message names the file or setting."""


class AnalysisError(TwinError, ValueError):
    """An analysis cannot run on what it was given: a feature of the wrong
    kind (not a network segment), a network with nothing to route on."""


class ExportError(TwinError, ValueError):
    """The selection cannot be written in the asked format: nothing to write,
    or two features that would get the same id there."""


class MissingExtraError(TwinError, ImportError):
    """A part of the toolkit needs a library that this installation left out
    (installed without the extra that brings it); the message names the
    work, the library and the ``pip install`` that adds it."""
