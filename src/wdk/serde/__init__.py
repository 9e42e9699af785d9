"""The one codec for everything that crosses a durable boundary.

Workflow arguments, step arguments and results, hook payloads, stream chunks and errors are
all stored with :func:`encode` and read back with :func:`decode`: msgpack plus ext types, so
values come back with the same types (tuples stay tuples, ``bytes`` stay ``bytes``, datetimes
keep their zone and ``fold``, ``Decimal`` keeps its exponent). Encoding is canonical: equal
values give equal bytes in every process, whatever ``PYTHONHASHSEED`` is.

Decisions worth knowing:

- ``bytearray`` and ``memoryview`` are encoded as (and decode to) ``bytes``.
- ``OrderedDict``, ``Counter`` and ``defaultdict`` (factory: an importable class or ``None``)
  keep their type; other subclasses of built-in types are refused with a clear error.
- Enums, dataclasses, named tuples, pydantic models, exceptions and classes implementing
  ``__wdk_serialize__(self)`` / classmethod ``__wdk_deserialize__(cls, data)`` are stored with
  their class's ``module:qualname``; classes defined inside functions are refused.
- An exception whose class cannot be imported where it is decoded becomes a
  :class:`RemoteError`.
- Other parts of wdk add types with :func:`register_ext`.
"""

from wdk.serde._classpath import module_resolver
from wdk.serde._codec import decode, encode
from wdk.serde._exceptions import RemoteError
from wdk.serde._registry import register_ext

__all__ = ["RemoteError", "decode", "encode", "module_resolver", "register_ext"]
