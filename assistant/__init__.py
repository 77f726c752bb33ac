"""papers-assistant: answers from paper abstracts with verified citations, offline by default.

Importing this package sets the process environment (``assistant.environment``) before any
library that reads it is imported; every entry point imports it first.
"""

from assistant import environment as _environment

_environment.configure()
