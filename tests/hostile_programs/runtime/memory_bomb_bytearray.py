# expect: runtime-exception
def label(x):
    block = bytearray(10**11)
    return len(block) % 2
