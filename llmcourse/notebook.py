"""Helpers for the chapter notebooks: the setup cell, showing the package's real source, glue."""

from __future__ import annotations

import inspect

from llmcourse.config import VERSION, preset

REPOSITORY_URL = "https://github.com/llmcourse/llmcourse"  # must equal _config.yml's repository.url (a test checks)
BRANCH = "main"


def install_spec(url: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """The pip requirement that installs the package from the course repository."""
    return f"llmcourse @ git+{url}@{branch}"


def setup_cell_source(url: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """The first cell of every chapter notebook (a test checks each notebook against this)."""
    return (
        "# Setup: in Colab this installs the course package from its repository; locally it is installed.\n"
        "try:\n"
        "    import llmcourse\n"
        "except ImportError:\n"
        f'    %pip install -q "{install_spec(url, branch)}"\n'
        "    import llmcourse\n"
        "cfg = llmcourse.setup_notebook()"
    )


def setup_notebook(seed_matplotlib: bool = True):
    """Print what this notebook runs on (package version, preset, JAX devices) and return the preset."""
    import jax

    cfg = preset()
    devices = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices())
    print(f"llmcourse {VERSION} | preset: {cfg.name} | JAX {jax.__version__} | devices: {devices}")
    if seed_matplotlib:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.dpi": 100, "figure.figsize": (6.4, 3.6), "axes.grid": True,
                             "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})
    return cfg


def source(obj) -> str:
    """The source code of a package function, class or module, exactly as installed."""
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"cannot show the source of {obj!r}: {err}") from None


def show_source(obj):
    """Display ``obj``'s real source in a notebook, syntax-highlighted, with where it lives.

    The book shows the package's code this way instead of copying it into the text, so what the
    reader sees is always what runs.
    """
    from IPython.display import Code, Markdown, display

    module = inspect.getmodule(obj)
    where = module.__name__ if module is not None else "?"
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", ""))
    label = f"`{where}.{name}`" if name and name != where else f"`{where}`"
    display(Markdown(f"Source of {label}:"))
    return Code(source(obj), language="python")


def glue(name: str, value, display: bool = False):
    """Make ``value`` available to the prose as ``{glue:text}`name``` (MyST-NB); a no-op elsewhere.

    Numbers the text states come from the notebook's own output this way, never typed by hand.
    """
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy/JAX scalars → Python numbers, so ``:.2f`` formats work
    try:
        from myst_nb import glue as _glue
    except ImportError:  # e.g. in Colab, where the book tools are not installed
        return value
    _glue(name, value, display=display)
    return value
