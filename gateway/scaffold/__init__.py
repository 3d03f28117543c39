"""`gateway new entity`: a new entity's files in the declaration format, and its migration.

`spec` checks the request (names, field types, owner) against the project and refuses
in one line; `templates` renders the files; `write` puts them in place all at once
(written to a temporary folder first, moved at the end) and generates the migration
with `gateway db revision`.
"""
