# expect: runtime-timeout
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def label(x):
    return fib(len(x) + 60) % 2
