"""One class per kind of personal data; :mod:`.registry` lists the ones the redactor runs."""
