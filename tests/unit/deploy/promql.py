"""The metric names a PromQL expression reads: enough of PromQL to check dashboards and alert rules
against the metrics the code defines (functions, keywords, label matchers, ranges and grouping
clauses are not metric names)."""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                      "unless", "offset", "inf", "nan", "atan2", "start", "end"})


def metric_names(expr: str) -> set[str]:
    text = _VARIABLES.sub(" ", _STRING.sub('""', expr))
    text = _RANGES.sub("", _MATCHERS.sub("", text))
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, called = match.group(1), match.group(2)
        if not called and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def balanced(expr: str) -> bool:
    """Brackets open and close in order (strings aside): the cheapest syntax check there is."""
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in _STRING.sub('""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack
