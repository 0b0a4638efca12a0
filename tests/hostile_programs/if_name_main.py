# expect: module-level-code
def label(x):
    return -1


if __name__ == "__main__":
    label("x")
