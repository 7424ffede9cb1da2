"""Every ``>>>`` example in the package's docstrings runs, one test per module.

The examples are collected with :class:`doctest.DocTestFinder` from every module that
``pkgutil.walk_packages`` finds under ``vgtheory`` and run with ELLIPSIS and
NORMALIZE_WHITESPACE, under the same JAX configuration as the rest of the suite (x64 and
rank promotion set in ``conftest.py``). A failure names the module and prints the doctest
report (example, expected, got).
"""

import doctest
import importlib
import pkgutil

import pytest

import vgtheory

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names():
    names = ["vgtheory"]
    for info in pkgutil.walk_packages(vgtheory.__path__, "vgtheory."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it would start the command line
        names.append(info.name)
    return sorted(names)


def _doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module, name) if t.examples]


MODULES = [name for name in _module_names() if _doctests(name)]


def test_doctests_found():
    """The collection itself works: the examples did not silently disappear."""
    n = sum(len(t.examples) for name in MODULES for t in _doctests(name))
    assert len(MODULES) >= 25 and n >= 130, (len(MODULES), n)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    tests = _doctests(name)
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        runner.run(t, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed\n" + "".join(report)
