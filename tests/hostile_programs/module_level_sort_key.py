# expect: module-level-code
def _key(word):
    print("at import")
    return word


WORDS = sorted(["spam", "ham"], key=_key)


def label(x):
    return 1 if x in WORDS else -1
