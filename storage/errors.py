"""Storage exceptions.

StorageError
 ├── NotFoundError      a row that must exist does not
 └── MigrationError     the schema cannot be brought to the code's version
"""


class StorageError(Exception):
    pass


class NotFoundError(StorageError):
    pass


class MigrationError(StorageError):
    pass
