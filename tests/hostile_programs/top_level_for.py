# expect: module-level-code
WORDS = []
for word in ("spam", "ham"):
    WORDS.append(word)


def label(x):
    return 1 if any(w in x for w in WORDS) else -1
