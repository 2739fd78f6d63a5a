"""Characters the BERT tokenizer deletes, deleted before anything else reads the text.

BERT's normalizer (Google's `_clean_text`, Hugging Face's `BertNormalizer(clean_text=True)`)
deletes every control (Cc) and format (Cf) character but tab, newline and carriage return, which
it turns into spaces: zero-width joiners, soft hyphens, bidirectional marks, word joiners. They
never become tokens, but a word segmenter cuts words at them (`教\\u200d育部门` → `教`, `\\u200d`,
`育`, `部门`), so whole-word masking must not see them either. Extract deletes them from the
corpus (`remove_invisible`); pretraining data deletes exactly what its tokenizer deletes (these,
by the tokenizer's own Unicode tables) before segmenting and tokenizing the same text
(`wordpiece.DeletedChars`).
"""

import re

KEPT_CONTROLS = "\t\n\r"
# The Cc and Cf code points but KEPT_CONTROLS (Unicode 14, Python 3.11's unicodedata), written
# out because scanning all of Unicode costs 0.3 s at every start; tests/test_text.py rescans.
FORMAT_AND_CONTROL_RANGES = (
    (0x0000, 0x0008), (0x000B, 0x000C), (0x000E, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD),
    (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
    (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F))
FORMAT_AND_CONTROL = "".join(chr(c) for first, last in FORMAT_AND_CONTROL_RANGES
                             for c in range(first, last + 1))


class CharDeleter:
    """Deletes a set of characters from strings; a no-op (and fast) for strings without any."""

    def __init__(self, chars):
        self.chars = set(chars)
        # "(?!)" matches nothing: an empty set deletes nothing.
        self._pattern = re.compile("[" + re.escape("".join(sorted(self.chars))) + "]"
                                   if self.chars else "(?!)")

    def add(self, chars):
        """Delete `chars` too."""
        if set(chars) - self.chars:
            self.__init__(self.chars | set(chars))

    def __call__(self, text):
        return self._pattern.sub("", text) if self._pattern.search(text) else text


# What extract deletes: the same, but the controls that are whitespace (\v, \f, U+0085...), which
# its cleaning turns into spaces, as the tokenizer's own whitespace rule would not.
INVISIBLE = "".join(c for c in FORMAT_AND_CONTROL if not c.isspace())
remove_invisible = CharDeleter(INVISIBLE)
