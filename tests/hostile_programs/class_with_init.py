# expect: dunder-access
class Matcher:
    def __init__(self, words):
        self.words = words


def label(x):
    return 1 if Matcher(["spam"]).words else -1
