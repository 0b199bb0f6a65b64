"""The Alembic migrations of the schema, run through `infrastructure.persistence.migrate`."""
