"""converters: turn source files into twin features.

One module per format, each ending with a ``LOADERS`` dict mapping file
extensions to a converter function; :mod:`converters.registry` merges them
and :func:`converters.importer.import_file` runs one inside a twin
transaction. Heavy libraries (ifcopenshell, cjio, wntr) are imported only by
the module that needs them.
"""

from .importer import ImportResult, import_file
from .registry import converter_for, formats

__all__ = ["ImportResult", "converter_for", "formats", "import_file"]
