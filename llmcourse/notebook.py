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


COLAB_BRANCH = "colab"  # the branch the book's launch buttons open: the Colab edition (tools/colab_edition.py)


def colab_setup_cell_source(ref: str, jax_requirement: str, url: str = REPOSITORY_URL) -> str:
    """The first code cell of the Colab edition's notebooks (``make colab`` writes it).

    Where ``llmcourse`` is importable it installs nothing. Otherwise it installs the tested version
    of the package, ``ref`` (the commit the edition was built from), keeping the runtime's own
    ``jax``/``jaxlib`` — on Colab, the build for its GPU or TPU — when their version satisfies
    ``jax_requirement`` (pyproject.toml's range, e.g. ``">=0.5"``): pip gets ``jax==<installed>``
    beside the package, so it cannot swap JAX. Only when that JAX is outside the range, or pip
    cannot install the package beside it, does pip choose another JAX; the cell then tells the
    learner to restart the runtime. The first line is a Colab form title, so Colab can show the
    cell collapsed.
    """
    if not ref or any(c.isspace() or c in "\"'@" for c in ref):
        raise ValueError(f"not a git commit or tag: {ref!r}")
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(jax_requirement)
    except InvalidSpecifier:
        raise ValueError(f"not a version range: {jax_requirement!r} (e.g. '>=0.5')") from None
    return (
        f"# @title Setup: installs the tested version of the course package (commit {ref[:12]})\n"
        "# In Colab this installs llmcourse and keeps the runtime's own JAX (built for its GPU or TPU)\n"
        "# when llmcourse supports it; where llmcourse is already installed it installs nothing.\n"
        "try:\n"
        "    import llmcourse\n"
        "except ImportError:\n"
        "    import importlib\n"
        "    import subprocess\n"
        "    import sys\n"
        "    from importlib.metadata import PackageNotFoundError, version\n"
        "\n"
        "    from packaging.specifiers import SpecifierSet\n"
        "\n"
        "    def installed(name):\n"
        "        try:\n"
        "            return version(name)\n"
        "        except PackageNotFoundError:\n"
        "            return None\n"
        "\n"
        "    def pip_install(*requirements):\n"
        '        result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *requirements],\n'
        "                                capture_output=True, text=True)\n"
        "        return result.returncode == 0, result.stdout + result.stderr\n"
        "\n"
        f'    package = "{install_spec(url, ref)}"\n'
        '    runtime_jax = installed("jax")\n'
        f'    supported = SpecifierSet("{jax_requirement}")  # pyproject.toml\'s range for jax\n'
        "    if runtime_jax is not None and supported.contains(runtime_jax, prereleases=True):\n"
        "        # pin the runtime's jax and jaxlib, so pip installs llmcourse around them\n"
        '        pins = [f"{name}=={installed(name)}" for name in ("jax", "jaxlib") if installed(name)]\n'
        "        ok, log = pip_install(package, *pins)\n"
        "        if not ok:\n"
        '            print(f"llmcourse cannot be installed beside JAX {runtime_jax}: installing another JAX")\n'
        "    else:\n"
        "        ok = False\n"
        "    if not ok:\n"
        "        ok, log = pip_install(package)\n"
        "        if not ok:\n"
        '            raise RuntimeError("pip could not install llmcourse:\\n" + log[-3000:])\n'
        '        if runtime_jax is not None and installed("jax") != runtime_jax:\n'
        '            print(f"JAX {runtime_jax} was replaced by JAX {installed(\'jax\')}, which llmcourse needs "\n'
        '                  f"(jax{supported}). Restart the runtime (Runtime > Restart session), then run "\n'
        '                  "this notebook again from the top.")\n'
        "    importlib.invalidate_caches()\n"
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
