# expect: runtime-pass
SEEN = []


def label(x):
    SEEN.append(x)
    return 1 if len(SEEN) == 1 else 0
