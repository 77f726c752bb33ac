"""``python -m assistant.ui``: the same as ``papers-ui``."""

from assistant.ui.app import main

main()
