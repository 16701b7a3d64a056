"""llmcourse — the package behind *Large language models from the ground up*.

Chapter notebooks start with ``llmcourse.setup_notebook()`` and then import what they teach,
e.g. ``from llmcourse.models.ngram import BigramCounts``.
"""

from llmcourse.config import VERSION as __version__
from llmcourse.config import Preset, PresetError, preset, preset_name
from llmcourse.notebook import glue, setup_notebook, show_source

__all__ = ["Preset", "PresetError", "preset", "preset_name", "setup_notebook", "show_source", "glue", "__version__"]
