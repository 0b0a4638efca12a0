# expect: runtime-timeout
import unicodedata


def label(x):
    expanded = unicodedata.normalize("NFKC", "\ufdfa" * 10**7 + x)
    return len(expanded) % 2
