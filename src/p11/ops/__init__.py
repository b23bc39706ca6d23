"""What is done with keys: planning (:mod:`.plans`), data operations (:mod:`.operations`), key management
(:mod:`.keyops`), key generation templates (:mod:`.keygen`) and the ``*_async`` forms (:mod:`.aio`, all of the asyncio).

These modules never import the object model (:mod:`p11.api`), not even for type hints: they see a key, session or
token through the Protocols of :mod:`p11.interfaces`, and an operation that makes a key returns its handle, which the
object layer turns into a typed object. The rule is checked by import-linter (pyproject.toml): see
docs/architecture.md. Internal: nothing here is public by its path (the keys' methods are the public face).
"""

__all__: list[str] = []
