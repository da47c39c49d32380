"""Errors of the Education Service, under the project's tree (see ``omegafarm.core.errors``)::

ConfigError
└── ContentError          a content file is malformed: the message names file and key
ValidationError
├── BadQueryError         a search query that cannot be searched (empty, too long)
└── NotFoundError
    └── UnknownTopicError no lesson, tutorial or glossary term with that id
"""

from __future__ import annotations

from omegafarm.core.errors import ConfigError, NotFoundError, ValidationError


class ContentError(ConfigError):
    """A content file (lesson, glossary, tutorial) is malformed or inconsistent."""


class BadQueryError(ValidationError):
    """A search query cannot be searched: empty, too long or without words."""


class UnknownTopicError(NotFoundError):
    """No lesson, tutorial or glossary term has this id."""
