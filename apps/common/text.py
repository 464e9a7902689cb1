"""Text that PostgreSQL can store and UTF-8 can carry: no NUL characters, no unpaired surrogates."""


def storable_text(value: str) -> str:
    """A pydantic after-validator: refuse what the database would refuse later, as a validation error now."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON may spell a lone surrogate ("\ud800"); it is not a character, and UTF-8 cannot encode it.
        raise ValueError("must not contain unpaired surrogates (U+D800 to U+DFFF)") from None
    return value
