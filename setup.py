"""The version lives in one place, the collection's galaxy.yml; pyproject.toml reads it from here."""
import pathlib
import re

from setuptools import setup

GALAXY_YML = pathlib.Path(__file__).parent / "ansible_collections" / "omniroute" / "opencode" / "galaxy.yml"
VERSION = re.search(r"^version:\s*([0-9][^\s#]*)", GALAXY_YML.read_text(), re.MULTILINE).group(1)

setup(version=VERSION)
