# expect: module-level-code
KEY = lambda word: word.lower()  # noqa: E731


def label(x):
    return 1 if KEY(x) == "spam" else -1
