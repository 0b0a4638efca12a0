# expect: class-definition
class Config:
    threshold = print("at import")


def label(x):
    return -1
