# expect: module-level-code
class Config:
    threshold = print("at import")


def label(x):
    return -1
