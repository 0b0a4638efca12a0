# expect: runtime-pass
def label(x):
    for _ in range(2000):
        print("\x00\x00\x00\x05spam" * 100)
    return 1 if "!" in x else 0
