"""Path convertors the framework registers with Starlette: `{post_id:objectid}` matches only
a MongoDB ObjectId, so `/posts/live` is never taken for a post and a malformed id is a 404
(no such page) rather than a validation error or a sign-in redirect."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class ObjectIdConvertor(Convertor[str]):
    regex = "[0-9a-fA-F]{24}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("objectid", ObjectIdConvertor())
