"""llmcourse — the package behind *Large language models from the ground up*.

Chapter notebooks start with ``llmcourse.setup_notebook()`` and then import what they teach,
e.g. ``from llmcourse.models.ngram import BigramCounts``.
"""

__version__ = "0.1.0"

from llmcourse.config import Preset, PresetError, preset, preset_name  # noqa: E402
from llmcourse.notebook import glue, setup_notebook, show_source  # noqa: E402

__all__ = ["Preset", "PresetError", "preset", "preset_name", "setup_notebook", "show_source", "glue", "__version__"]
